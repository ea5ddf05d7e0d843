import { ApiError } from './api-error.ts';
import { type FieldDef, KIND_SCHEMAS, type MessageSchema } from './protobuf-schemas.ts';

/**
 * Decoder for the Kubernetes protobuf wire format (`application/vnd.kubernetes.protobuf`)
 * for the three kinds kubectl ≥ 1.32 sends as protobuf request bodies:
 * `kubectl create namespace|configmap|secret`. Hand-written on purpose: the
 * whole job is a ~40-line varint/length-delimited reader plus the field numbers
 * of four messages (from k8s.io/api/core/v1/generated.proto and
 * apimachinery's meta/v1 generated.proto), which does not justify a protobuf
 * runtime dependency and generated code for the whole Kubernetes API.
 *
 * Envelope: 4 magic bytes `k8s\0`, then a `runtime.Unknown` message
 * {1: TypeMeta{1: apiVersion, 2: kind}, 2: raw bytes (the object message),
 *  3: contentEncoding, 4: contentType}.
 */

type Json = Record<string, unknown>;

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

/** Kinds this decoder understands (by `apiVersion/kind`). */
export const PROTOBUF_KINDS = ['v1/Namespace', 'v1/ConfigMap', 'v1/Secret', ...Object.keys(KIND_SCHEMAS)];

interface Field {
  no: number;
  wire: number;
  /** varint value (wire type 0), as a bigint to keep int64 exact. */
  int?: bigint;
  /** bytes (wire type 2). */
  bytes?: Uint8Array;
}

class Reader {
  #buf: Uint8Array;
  #pos = 0;
  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }
  get done(): boolean {
    return this.#pos >= this.#buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.#pos >= this.#buf.length) throw malformed('truncated varint');
      const b = this.#buf[this.#pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw malformed('varint too long');
    }
  }
  field(): Field {
    const key = Number(this.varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (no === 0) throw malformed('field number 0');
    switch (wire) {
      case 0:
        return { no, wire, int: this.varint() };
      case 1:
        this.#skip(8);
        return { no, wire };
      case 2: {
        const len = Number(this.varint());
        if (this.#pos + len > this.#buf.length) throw malformed('truncated length-delimited field');
        const bytes = this.#buf.subarray(this.#pos, this.#pos + len);
        this.#pos += len;
        return { no, wire, bytes };
      }
      case 5:
        this.#skip(4);
        return { no, wire };
      default:
        throw malformed(`unsupported wire type ${wire}`);
    }
  }
  #skip(n: number): void {
    if (this.#pos + n > this.#buf.length) throw malformed('truncated fixed-width field');
    this.#pos += n;
  }
}

function malformed(why: string): ApiError {
  return new ApiError(400, 'BadRequest', `unable to decode protobuf request body: ${why}`);
}

function fields(buf: Uint8Array): Field[] {
  const r = new Reader(buf);
  const out: Field[] = [];
  while (!r.done) out.push(r.field());
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const str = (f: Field): string => (f.bytes ? utf8.decode(f.bytes) : '');

function mapEntry(f: Field, bytesValue: boolean): [string, string] {
  let key = '';
  let value = '';
  for (const e of fields(f.bytes ?? new Uint8Array())) {
    if (e.no === 1) key = str(e);
    else if (e.no === 2) value = bytesValue ? Buffer.from(e.bytes ?? []).toString('base64') : str(e);
  }
  return [key, value];
}

function time(f: Field): string {
  let seconds = 0n;
  for (const e of fields(f.bytes ?? new Uint8Array())) if (e.no === 1) seconds = e.int ?? 0n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}Z`;
}

function ownerReference(f: Field): Json {
  const o: Json = {};
  for (const e of fields(f.bytes ?? new Uint8Array())) {
    if (e.no === 1) o.kind = str(e);
    else if (e.no === 3) o.name = str(e);
    else if (e.no === 4) o.uid = str(e);
    else if (e.no === 5) o.apiVersion = str(e);
    else if (e.no === 6) o.controller = e.int === 1n;
    else if (e.no === 7) o.blockOwnerDeletion = e.int === 1n;
  }
  return o;
}

function objectMeta(buf: Uint8Array): Json {
  const m: Json = {};
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const finalizers: string[] = [];
  const owners: Json[] = [];
  for (const f of fields(buf)) {
    switch (f.no) {
      case 1:
        m.name = str(f);
        break;
      case 2:
        m.generateName = str(f);
        break;
      case 3:
        m.namespace = str(f);
        break;
      case 5:
        m.uid = str(f);
        break;
      case 6:
        m.resourceVersion = str(f);
        break;
      case 7:
        if (f.int) m.generation = Number(f.int);
        break;
      case 8:
        // gogo-protobuf always writes the (non-pointer) Time; an empty one is "unset".
        if (f.bytes?.length) m.creationTimestamp = time(f);
        break;
      case 11: {
        const [k, v] = mapEntry(f, false);
        labels[k] = v;
        break;
      }
      case 12: {
        const [k, v] = mapEntry(f, false);
        annotations[k] = v;
        break;
      }
      case 13:
        owners.push(ownerReference(f));
        break;
      case 14:
        finalizers.push(str(f));
        break;
      // 4 selfLink, 9/10 deletion*, 17 managedFields: server-owned, ignored on create.
    }
  }
  for (const [k, v] of Object.entries(m)) if (v === '') delete m[k];
  if (Object.keys(labels).length) m.labels = labels;
  if (Object.keys(annotations).length) m.annotations = annotations;
  if (finalizers.length) m.finalizers = finalizers;
  if (owners.length) m.ownerReferences = owners;
  return m;
}

function namespace(raw: Uint8Array): Json {
  const obj: Json = { apiVersion: 'v1', kind: 'Namespace', metadata: {} };
  for (const f of fields(raw)) {
    if (f.no === 1) obj.metadata = objectMeta(f.bytes ?? new Uint8Array());
    else if (f.no === 2) {
      const finalizers = fields(f.bytes ?? new Uint8Array())
        .filter((e) => e.no === 1)
        .map(str);
      obj.spec = finalizers.length ? { finalizers } : {};
    }
  }
  return obj;
}

function configMap(raw: Uint8Array): Json {
  const obj: Json = { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} };
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const f of fields(raw)) {
    if (f.no === 1) obj.metadata = objectMeta(f.bytes ?? new Uint8Array());
    else if (f.no === 2) {
      const [k, v] = mapEntry(f, false);
      data[k] = v;
    } else if (f.no === 3) {
      const [k, v] = mapEntry(f, true);
      binaryData[k] = v;
    } else if (f.no === 4) obj.immutable = f.int === 1n;
  }
  if (Object.keys(data).length) obj.data = data;
  if (Object.keys(binaryData).length) obj.binaryData = binaryData;
  return obj;
}

function secret(raw: Uint8Array): Json {
  const obj: Json = { apiVersion: 'v1', kind: 'Secret', metadata: {} };
  const data: Record<string, string> = {};
  const stringData: Record<string, string> = {};
  for (const f of fields(raw)) {
    if (f.no === 1) obj.metadata = objectMeta(f.bytes ?? new Uint8Array());
    else if (f.no === 2) {
      const [k, v] = mapEntry(f, true);
      data[k] = v;
    } else if (f.no === 3) obj.type = str(f);
    else if (f.no === 4) {
      const [k, v] = mapEntry(f, false);
      stringData[k] = v;
    } else if (f.no === 5) obj.immutable = f.int === 1n;
  }
  if (Object.keys(data).length) obj.data = data;
  if (Object.keys(stringData).length) obj.stringData = stringData;
  return obj;
}

function unsupportedField(schema: MessageSchema, f: Field): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the sandbox cannot decode field ${f.no} of ${schema.name} in a protobuf body; send JSON instead (e.g. kubectl create -f / kubectl apply)`,
  );
}

function isEmpty(f: Field): boolean {
  return f.wire === 0 ? f.int === 0n : f.wire === 2 ? (f.bytes?.length ?? 0) === 0 : false;
}

function scalar(def: FieldDef, f: Field, schema: MessageSchema): unknown {
  switch (def.type) {
    case 'string':
      if (f.wire !== 2) throw unsupportedField(schema, f);
      return str(f);
    case 'int':
      if (f.wire !== 0) throw unsupportedField(schema, f);
      return Number(BigInt.asIntN(64, f.int ?? 0n));
    case 'bool':
      if (f.wire !== 0) throw unsupportedField(schema, f);
      return f.int !== 0n;
    case 'quantity':
      return str(fields(f.bytes ?? new Uint8Array()).find((q) => q.no === 1) ?? { no: 1, wire: 2 });
    case 'intOrString': {
      let type = 0n;
      let intVal = 0n;
      let strVal = '';
      for (const e of fields(f.bytes ?? new Uint8Array())) {
        if (e.no === 1) type = e.int ?? 0n;
        else if (e.no === 2) intVal = e.int ?? 0n;
        else if (e.no === 3) strVal = str(e);
      }
      return type === 1n ? strVal : Number(BigInt.asIntN(64, intVal));
    }
    case 'objectMeta':
      return objectMeta(f.bytes ?? new Uint8Array());
    default:
      throw unsupportedField(schema, f);
  }
}

/** Decodes a message by its field table; empty scalars are omitted as Go's `omitempty` does. */
function decodeMessage(buf: Uint8Array, schema: MessageSchema, into: Json = {}): Json {
  for (const f of fields(buf)) {
    const def = schema.fields[f.no];
    if (!def) {
      if (isEmpty(f)) continue;
      throw unsupportedField(schema, f);
    }
    const t = def.type;
    if (t === 'ignore') continue;
    let value: unknown;
    if (typeof t === 'object' && 'inline' in t) {
      decodeMessage(f.bytes ?? new Uint8Array(), t.inline, into);
      continue;
    }
    if (typeof t === 'object' && 'map' in t) {
      let key = '';
      let v: unknown = '';
      for (const e of fields(f.bytes ?? new Uint8Array())) {
        if (e.no === 1) key = str(e);
        else if (e.no === 2)
          v = t.map === 'quantity' ? scalar({ name: def.name, type: 'quantity' }, e, schema) : str(e);
      }
      const m = (into[def.name] ?? {}) as Json;
      m[key] = v;
      into[def.name] = m;
      continue;
    }
    if (typeof t === 'object' && 'message' in t) {
      if (f.wire !== 2) throw unsupportedField(schema, f);
      value = decodeMessage(f.bytes ?? new Uint8Array(), t.message);
    } else {
      if (!def.repeated && !def.keepZero && isEmpty(f) && t !== 'objectMeta') continue;
      value = scalar(def, f, schema);
    }
    if (def.repeated) {
      const arr = (into[def.name] ?? []) as unknown[];
      arr.push(value);
      into[def.name] = arr;
    } else {
      into[def.name] = value;
    }
  }
  return into;
}

/**
 * Decodes a protobuf request body into the JSON object it encodes. Throws a 400
 * for malformed input and a 415 for kinds this decoder does not know.
 */
export function decodeProtobufObject(body: Uint8Array): Json {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b))
    throw malformed('missing k8s protobuf magic prefix');
  let apiVersion = '';
  let kind = '';
  let raw: Uint8Array = new Uint8Array();
  for (const f of fields(body.subarray(4))) {
    if (f.no === 1) {
      for (const t of fields(f.bytes ?? new Uint8Array())) {
        if (t.no === 1) apiVersion = str(t);
        else if (t.no === 2) kind = str(t);
      }
    } else if (f.no === 2) raw = f.bytes ?? new Uint8Array();
  }
  switch (`${apiVersion}/${kind}`) {
    case 'v1/Namespace':
      return namespace(raw);
    case 'v1/ConfigMap':
      return configMap(raw);
    case 'v1/Secret':
      return secret(raw);
    default: {
      const schema = KIND_SCHEMAS[`${apiVersion}/${kind}`];
      if (schema) return { apiVersion, kind, ...decodeMessage(raw, schema) };
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the sandbox decodes protobuf bodies only for ${PROTOBUF_KINDS.join(', ')}, not ${apiVersion}/${kind}; send JSON instead`,
      );
    }
  }
}

/** Minimal protobuf writer, the inverse of the reader above; used by tests. */
export function encodeForTest(apiVersion: string, kind: string, raw: Uint8Array): Uint8Array {
  const typeMeta = concat(lenField(1, utf8Bytes(apiVersion)), lenField(2, utf8Bytes(kind)));
  return concat(new Uint8Array(MAGIC), lenField(1, typeMeta), lenField(2, raw));
}

export function utf8Bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function varintBytes(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return new Uint8Array(out);
}

export function lenField(no: number, bytes: Uint8Array): Uint8Array {
  return concat(varintBytes((no << 3) | 2), varintBytes(bytes.length), bytes);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
