import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { parse, stringify } from 'yaml';
import { StringEnum } from './common.ts';
import {
  crdManifests,
  type JSONSchemaProps,
  KINDS,
  openApiSchema,
  schemaAt,
  structuralProblems,
  toStructural,
} from './crd.ts';

describe('CRD manifests', () => {
  it('every kind has a structural schema', () => {
    for (const kind of KINDS) assert.deepEqual(structuralProblems(openApiSchema(kind)), [], kind.kind);
  });

  it('carry no $ref, $id, const, patternProperties or additionalProperties: false anywhere', () => {
    const text = JSON.stringify(crdManifests());
    for (const banned of [
      '"$ref"',
      '"$id"',
      '"const"',
      '"patternProperties"',
      '"additionalProperties":false',
      '"anyOf"',
    ])
      assert.ok(!text.includes(banned), banned);
  });

  it('preserve unknown fields nowhere (no free-form fields in the API yet)', () => {
    assert.ok(!JSON.stringify(crdManifests()).includes('x-kubernetes-preserve-unknown-fields'));
  });

  it('round-trip through YAML unchanged', () => {
    const crds = crdManifests();
    assert.deepEqual(parse(stringify(crds)), crds);
  });

  it('name, group, scope, status subresource, short names and the cairn category', () => {
    const crds = crdManifests() as {
      metadata: { name: string };
      spec: {
        group: string;
        scope: string;
        names: { plural: string; shortNames: string[]; categories: string[] };
        versions: { name: string; served: boolean; storage: boolean; subresources: unknown }[];
      };
    }[];
    assert.deepEqual(
      crds.map((c) => c.metadata.name),
      [
        'backuplocations.cairn.dev',
        'backups.cairn.dev',
        'restores.cairn.dev',
        'schedules.cairn.dev',
        'etcdbackups.cairn.dev',
      ],
    );
    const shortNames = new Set<string>();
    for (const crd of crds) {
      assert.equal(crd.spec.group, 'cairn.dev');
      assert.equal(crd.spec.scope, 'Namespaced');
      assert.deepEqual(crd.spec.names.categories, ['cairn']);
      assert.equal(crd.metadata.name, `${crd.spec.names.plural}.cairn.dev`);
      const [version] = crd.spec.versions;
      assert.deepEqual(version?.subresources, { status: {} });
      assert.equal(version?.served && version.storage, true);
      for (const s of crd.spec.names.shortNames) {
        assert.ok(!shortNames.has(s), `short name ${s} used twice`);
        shortNames.add(s);
      }
    }
  });

  it('every printer column points at a field of its type', () => {
    for (const kind of KINDS) {
      const schema = openApiSchema(kind);
      for (const column of kind.printerColumns) {
        const node = schemaAt(schema, column.jsonPath);
        assert.ok(node !== undefined, `${kind.kind} ${column.jsonPath}`);
        if (column.jsonPath.startsWith('.metadata.')) continue;
        const expected = column.type === 'date' ? 'string' : column.type;
        assert.equal(node.type, expected, `${kind.kind} ${column.jsonPath}`);
        if (column.type === 'date') assert.equal(node.format, 'date-time', `${kind.kind} ${column.jsonPath}`);
      }
    }
  });

  it('enums come from string unions', () => {
    const schedule = openApiSchema(KINDS.find((k) => k.kind === 'Schedule') ?? assert.fail());
    assert.deepEqual(schemaAt(schedule, '.status.phase')?.enum, ['Enabled', 'Paused', 'FailedValidation']);
  });
});

describe('toStructural', () => {
  it('turns records into additionalProperties and literals into enums', () => {
    const out = toStructural(
      Type.Object({ m: Type.Record(Type.String(), Type.Integer()), e: StringEnum(['a', 'b'] as const) }),
    );
    assert.deepEqual(out, {
      type: 'object',
      properties: {
        m: { type: 'object', additionalProperties: { type: 'integer' } },
        e: { type: 'string', enum: ['a', 'b'] },
      },
      required: ['m', 'e'],
    });
  });

  it('refuses what Kubernetes would refuse', () => {
    assert.throws(() => toStructural(Type.Union([Type.String(), Type.Integer()])), /unions/);
    assert.throws(() => toStructural(Type.Tuple([Type.String(), Type.String()])), /items/);
    assert.throws(() => toStructural(Type.Null()), /no structural form/);
  });

  it('free-form values preserve unknown fields', () => {
    const out = toStructural(Type.Object({ x: Type.Unknown() }));
    assert.deepEqual(out.properties?.x, { 'x-kubernetes-preserve-unknown-fields': true });
    assert.deepEqual(structuralProblems({ type: 'object', properties: { x: out.properties?.x ?? {} } }), []);
  });
});

describe('structuralProblems', () => {
  const bad: [string, JSONSchemaProps, RegExp][] = [
    ['missing type', { type: 'object', properties: { a: {} } }, /\$\.a: no type/],
    [
      '$ref',
      { type: 'object', properties: { a: { $ref: '#/x', type: 'string' } } },
      /"\$ref" is not allowed/,
    ],
    [
      'properties with additionalProperties',
      { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } },
      /mutually exclusive/,
    ],
    ['required that does not exist', { type: 'object', properties: {}, required: ['x'] }, /required "x"/],
    ['array without items', { type: 'object', properties: { a: { type: 'array' } } }, /array without items/],
    [
      'enum of the wrong type',
      { type: 'object', properties: { a: { type: 'string', enum: [1] } } },
      /enum value 1/,
    ],
    [
      'metadata with fields',
      {
        type: 'object',
        properties: { metadata: { type: 'object', properties: { name: { type: 'string' } } } },
      },
      /metadata/,
    ],
    ['const', { type: 'object', properties: { a: { type: 'string', const: 'x' } } }, /"const"/],
  ];
  for (const [what, schema, expected] of bad) {
    it(`finds ${what}`, () => {
      const problems = structuralProblems(schema);
      assert.ok(
        problems.some((p) => expected.test(p)),
        problems.join('\n'),
      );
    });
  }
});
