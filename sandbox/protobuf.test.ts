import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from './api-error.ts';
import { concat, decodeProtobufObject, encodeForTest, lenField, utf8Bytes, varintBytes } from './protobuf.ts';

const str = (no: number, s: string) => lenField(no, utf8Bytes(s));
const entry = (no: number, k: string, v: Uint8Array) => lenField(no, concat(str(1, k), lenField(2, v)));
const varintField = (no: number, n: number) => concat(varintBytes(no << 3), varintBytes(n));

function meta(name: string, extra: Uint8Array[] = []): Uint8Array {
  return lenField(1, concat(str(1, name), ...extra));
}

/** Seeded xorshift so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

describe('protobuf request bodies', () => {
  test('Namespace with labels and spec finalizers', () => {
    const raw = concat(
      meta('team-a', [entry(11, 'env', utf8Bytes('prod')), entry(12, 'note', utf8Bytes('hi'))]),
      lenField(2, str(1, 'kubernetes')),
    );
    assert.deepEqual(decodeProtobufObject(encodeForTest('v1', 'Namespace', raw)), {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a', labels: { env: 'prod' }, annotations: { note: 'hi' } },
      spec: { finalizers: ['kubernetes'] },
    });
  });

  test('ConfigMap with data, binaryData and immutable', () => {
    const raw = concat(
      meta('settings', [str(3, 'shop'), str(14, 'example.com/keep')]),
      entry(2, 'mode', utf8Bytes('fast')),
      entry(2, 'level', utf8Bytes('3')),
      entry(3, 'bin', new Uint8Array([0, 255, 1])),
      varintField(4, 1),
    );
    assert.deepEqual(decodeProtobufObject(encodeForTest('v1', 'ConfigMap', raw)), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'shop', finalizers: ['example.com/keep'] },
      data: { mode: 'fast', level: '3' },
      binaryData: { bin: Buffer.from([0, 255, 1]).toString('base64') },
      immutable: true,
    });
  });

  test('Secret data bytes become base64; type and stringData kept', () => {
    const raw = concat(
      meta('creds'),
      entry(2, 'user', utf8Bytes('admin')),
      str(3, 'kubernetes.io/basic-auth'),
      entry(4, 'plain', utf8Bytes('text')),
    );
    assert.deepEqual(decodeProtobufObject(encodeForTest('v1', 'Secret', raw)), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds' },
      data: { user: Buffer.from('admin').toString('base64') },
      type: 'kubernetes.io/basic-auth',
      stringData: { plain: 'text' },
    });
  });

  test('unknown kinds are 415 with the list of supported kinds', () => {
    assert.throws(
      () => decodeProtobufObject(encodeForTest('apps/v1', 'StatefulSet', new Uint8Array())),
      (e: unknown) => e instanceof ApiError && e.code === 415 && /v1\/Namespace/.test(e.message),
    );
  });

  test('table-driven kinds: nested messages, int-or-string, zero values omitted, pointer zeros kept', () => {
    const container = concat(str(1, 'app'), str(2, 'nginx'), str(5, ''), varintField(16, 0));
    const podSpec = concat(lenField(2, container), str(3, 'Always'));
    const template = concat(lenField(1, concat(entry(11, 'app', utf8Bytes('web')))), lenField(2, podSpec));
    const intOrString = (s: string) => concat(varintField(1, 1), str(3, s));
    const strategy = concat(str(1, 'RollingUpdate'), lenField(2, concat(lenField(1, intOrString('25%')))));
    const spec = concat(varintField(1, 0), lenField(3, template), lenField(4, strategy), varintField(7, 0));
    const raw = concat(meta('web'), lenField(2, spec), lenField(3, varintField(1, 5)));
    assert.deepEqual(decodeProtobufObject(encodeForTest('apps/v1', 'Deployment', raw)), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 0,
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'nginx' }], restartPolicy: 'Always' },
        },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } },
      },
    });
  });

  test('a non-empty field the tables do not know is refused, not dropped', () => {
    const raw = concat(meta('bot'), lenField(2, lenField(1, str(1, 'token-secret'))));
    assert.throws(
      () => decodeProtobufObject(encodeForTest('v1', 'ServiceAccount', raw)),
      (e: unknown) => e instanceof ApiError && e.code === 415 && /field 2 of ServiceAccount/.test(e.message),
    );
    const empty = concat(meta('bot'), lenField(2, new Uint8Array()));
    assert.deepEqual(decodeProtobufObject(encodeForTest('v1', 'ServiceAccount', empty)), {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'bot' },
    });
  });

  test('fuzz: random and truncated bodies fail with ApiError 400/415, never anything else', () => {
    const next = rng(42);
    const valid = encodeForTest(
      'v1',
      'ConfigMap',
      concat(meta('x', [entry(11, 'a', utf8Bytes('b'))]), entry(2, 'k', utf8Bytes('v'))),
    );
    for (let i = 0; i < 3000; i++) {
      let body: Uint8Array;
      const mode = i % 3;
      if (mode === 0) body = valid.subarray(0, Math.floor(next() * valid.length));
      else if (mode === 1) {
        body = Uint8Array.from(valid);
        for (let j = 0; j < 3; j++)
          body[4 + Math.floor(next() * (body.length - 4))] = Math.floor(next() * 256);
      } else {
        body = concat(
          new Uint8Array([0x6b, 0x38, 0x73, 0]),
          Uint8Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256)),
        );
      }
      try {
        const obj = decodeProtobufObject(body);
        assert.equal(typeof obj, 'object');
      } catch (e) {
        assert.ok(e instanceof ApiError, `case ${i}: ${String(e)}`);
        assert.ok(e.code === 400 || e.code === 415, `case ${i}: code ${e.code}`);
      }
    }
  });
});
