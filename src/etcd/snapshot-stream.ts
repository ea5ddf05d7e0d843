/**
 * Maintenance/Snapshot over plain `node:http2`, without grpc-js: the one call
 * that moves gigabytes. A gRPC server stream is an HTTP/2 POST whose response
 * body is a sequence of `[flag:1][length:4][protobuf]` messages and whose
 * trailers carry `grpc-status`. {@link SnapshotFrameParser} walks that framing
 * and the few protobuf fields of `SnapshotResponse` as the bytes arrive and
 * hands on the `blob` bytes as views into the received HTTP/2 frames, which
 * are copied once, into the 256 KiB buffers handed to storage: no per-message
 * buffer, no reflection. Through grpc-js the same stream
 * cost ~1.7× etcdctl's CPU (a buffer and a copy per 32 KiB message, plus call
 * bookkeeping), which on a busy two-core machine made the save 2–3× slower
 * than `etcdctl snapshot save`.
 *
 * Flow control: when two full buffers wait for the consumer, the HTTP/2
 * stream is paused, Node stops acknowledging data, and etcd stops sending
 * once the window is full.
 */
import http2 from 'node:http2';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { EtcdTls } from './client.ts';

/**
 * HTTP/2 receive window (stream and connection). grpc-go, etcdctl's client,
 * starts at 64 KiB and grows it by BDP estimation up to 16 MiB. Measured on a
 * 1.1 GiB snapshot: 64 KiB costs ~0.4 CPU-s more (a WINDOW_UPDATE every few
 * frames) and is slower; 1, 8 and 16 MiB are equally fast, and 1 MiB keeps
 * ~10 MiB less in flight when storage is briefly slower than etcd.
 */
const WINDOW = 1024 * 1024;
/** Full buffers that may wait for the consumer before the HTTP/2 stream is paused. */
const READY_LIMIT = 2;
/** Bytes handed out between two young-generation collections (see {@link gcFunctions}). */
const GC_EVERY_BYTES = 4 * 1024 * 1024;

interface GcControl {
  /** A young-generation GC (a scavenge, ~1 ms here). */
  readonly young: () => void;
  /** V8's memory-reducing full GC (`last-resort`: also shrinks the young generation), 75–150 ms here. */
  readonly compact: () => void;
}
let gcControl: GcControl | null | undefined;
/**
 * Explicit GCs for the snapshot stream, or null when V8 does not offer them.
 *
 * Why: every MiB of snapshot leaves ~2 MiB of garbage outside the JS heap —
 * Node's HTTP/2 read buffers and the buffers handed to storage — but only a
 * few hundred bytes of JS objects, so V8's young generation fills up rarely,
 * and V8 collects only when ~64 MiB of such buffers have piled up (measured:
 * 70–90 MiB of dead ArrayBuffers at the peak of a 1.1 GiB save). A scavenge
 * (~1 ms) every 4 MiB frees them while they are still young: peak RSS ~60 MiB
 * lower, and less CPU, not more — malloc hands the freed, already mapped
 * memory back instead of faulting in fresh pages (docs/benchmarks.md,
 * etcd). Much more often does not pay: every 2 MiB doubles the GC time for
 * ~3 MiB less. The buffers cannot be recycled instead: a BlobStore may keep
 * a chunk after asking for the next (S3 multipart gathers chunks into parts).
 *
 * Before the stream, one memory-reducing full GC: start-up (type stripping,
 * module loading) leaves a 16 MiB young generation and garbage in the old
 * one; compacting both first lowered the peak of a 1.1 GiB save by ~10 MiB
 * (135–136 → 123–126 MiB in process) for 0.08–0.15 CPU-s.
 *
 * `--expose-gc` is switched on only long enough to fetch the function from a
 * fresh context (the main context never gets a `gc` global), and only by the
 * command that streams a snapshot.
 */
function gcFunctions(): GcControl | null {
  if (gcControl === undefined) {
    const wrap = (gc: unknown): GcControl | null =>
      typeof gc === 'function'
        ? {
            young: () => gc({ type: 'minor' }),
            compact: () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }),
          }
        : null;
    // Started with --expose-gc already: use it, and leave the flag as it is.
    const own = (globalThis as { gc?: unknown }).gc;
    if (typeof own === 'function') gcControl = wrap(own);
    else {
      try {
        v8.setFlagsFromString('--expose-gc');
        gcControl = wrap(runInNewContext('gc'));
      } catch {
        gcControl = null;
      } finally {
        v8.setFlagsFromString('--no-expose-gc');
      }
    }
  }
  return gcControl;
}

/** A gRPC failure as grpc-js reports it, so `etcdError` classifies both the same way. */
export class GrpcStatusError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, details: string) {
    super(`${code} ${details}`);
    this.code = code;
    this.details = details;
  }
}

type State = 'header' | 'tag' | 'varint' | 'length' | 'skip' | 'blob';

/**
 * Incremental parser of a stream of gRPC-framed `SnapshotResponse` messages.
 * Every call to {@link push} returns the blob bytes contained in the chunk,
 * as subarrays of it.
 */
export class SnapshotFrameParser {
  #state: State = 'header';
  /** Bytes of the 5-byte message header seen so far. */
  readonly #header = Buffer.alloc(5);
  #headerFill = 0;
  /** Bytes left in the current message. */
  #messageLeft = 0;
  // varint being decoded (tag, length or value)
  #varint = 0;
  #shift = 1;
  #field = 0;
  #wire = 0;
  /** Bytes left of a skipped field or of the blob. */
  #fieldLeft = 0;
  remainingBytes = 0;
  blobBytes = 0;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#state === 'header') {
        const n = Math.min(5 - this.#headerFill, chunk.length - pos);
        chunk.copy(this.#header, this.#headerFill, pos, pos + n);
        this.#headerFill += n;
        pos += n;
        if (this.#headerFill === 5) {
          if (this.#header[0] !== 0) throw new Error('compressed gRPC message in the Snapshot stream');
          this.#messageLeft = this.#header.readUInt32BE(1);
          this.#headerFill = 0;
          this.#state = this.#messageLeft === 0 ? 'header' : 'tag';
          this.#startVarint();
        }
        continue;
      }
      if (this.#state === 'tag' || this.#state === 'varint' || this.#state === 'length') {
        const byte = chunk[pos++] as number;
        this.#messageLeft--;
        this.#varint += (byte & 0x7f) * this.#shift;
        this.#shift *= 128;
        if (byte >= 0x80) {
          if (this.#messageLeft <= 0) throw new Error('truncated varint in the Snapshot stream');
          continue;
        }
        const value = this.#varint;
        this.#startVarint();
        if (this.#state === 'tag') {
          this.#field = Math.floor(value / 8);
          this.#wire = value & 7;
          if (this.#wire === 0) this.#state = 'varint';
          else if (this.#wire === 2) this.#state = 'length';
          else if (this.#wire === 1 || this.#wire === 5) {
            this.#fieldLeft = this.#wire === 1 ? 8 : 4;
            this.#state = 'skip';
          } else throw new Error(`unexpected wire type ${this.#wire} in the Snapshot stream`);
        } else if (this.#state === 'varint') {
          if (this.#field === 2) this.remainingBytes = value;
          this.#afterField();
        } else {
          this.#fieldLeft = value;
          if (value > this.#messageLeft)
            throw new Error('field longer than its message in the Snapshot stream');
          this.#state = this.#field === 3 ? 'blob' : 'skip';
          if (value === 0) this.#afterField();
        }
        continue;
      }
      // skip or blob
      const n = Math.min(this.#fieldLeft, chunk.length - pos);
      if (this.#state === 'blob') {
        out.push(chunk.subarray(pos, pos + n));
        this.blobBytes += n;
      }
      pos += n;
      this.#fieldLeft -= n;
      this.#messageLeft -= n;
      if (this.#fieldLeft === 0) this.#afterField();
    }
    return out;
  }

  /** True when the stream ended on a message boundary. */
  get atBoundary(): boolean {
    return this.#state === 'header' && this.#headerFill === 0;
  }

  #startVarint(): void {
    this.#varint = 0;
    this.#shift = 1;
  }

  #afterField(): void {
    this.#state = this.#messageLeft === 0 ? 'header' : 'tag';
    this.#startVarint();
  }
}

export interface SnapshotStreamOptions {
  /** `http://host:port` or `https://host:port`. */
  readonly url: string;
  readonly tls?: EtcdTls;
  readonly token?: string;
  readonly signal?: AbortSignal;
  /** Size of the buffers yielded (the last one may be shorter); default 256 KiB. */
  readonly chunkBytes?: number;
}

/** Streams the snapshot's bytes (bbolt file + SHA-256 trailer) in 256 KiB buffers. */
export async function* snapshotStream(options: SnapshotStreamOptions): AsyncGenerator<Buffer> {
  const gc = gcFunctions();
  gc?.compact();
  const session = http2.connect(options.url, {
    ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
    ...(options.tls?.cert ? { cert: options.tls.cert } : {}),
    ...(options.tls?.key ? { key: options.tls.key } : {}),
    ALPNProtocols: ['h2'],
    settings: { initialWindowSize: WINDOW },
  });
  session.once('connect', () => session.setLocalWindowSize(WINDOW));
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': '/etcdserverpb.Maintenance/Snapshot',
    'content-type': 'application/grpc',
    te: 'trailers',
    // The auth token, on the stream as on every other call.
    ...(options.token === undefined ? {} : { token: options.token }),
  };
  const request = session.request(headers, { endStream: false });
  // Session failures end the request's iteration below. (Not a Promise.race against a
  // never-settling promise: every race would keep its chunk reachable until the end.)
  session.once('error', (err: Error) => request.destroy(new GrpcStatusError(14, err.message)));
  const abort = () => request.close(http2.constants.NGHTTP2_CANCEL);
  options.signal?.addEventListener('abort', abort, { once: true });
  let status: { code: number; details: string } | undefined;
  const readStatus = (h: http2.IncomingHttpHeaders) => {
    const code = h['grpc-status'];
    if (code !== undefined) {
      status = { code: Number(code), details: decodeURIComponent(String(h['grpc-message'] ?? '')) };
    }
  };
  request.on('response', (h) => {
    const http = Number(h[':status']);
    if (http !== 200) status = { code: 2, details: `HTTP status ${http}` };
    readStatus(h);
  });
  request.on('trailers', readStatus);
  // An empty SnapshotRequest: flag 0, length 0.
  request.end(Buffer.alloc(5));

  // The response is consumed through 'data' events, not the async iterator:
  // the iterator's `read()` concatenates whatever frames are buffered into a
  // new buffer (a second copy of most of the snapshot, and as much garbage).
  // Each frame's blob bytes are copied once, into 256 KiB buffers; at most
  // READY_LIMIT full buffers wait for the consumer before the request is
  // paused — then Node stops acknowledging data, and etcd stops sending once
  // the HTTP/2 window is full (back-pressure instead of buffering).
  const parser = new SnapshotFrameParser();
  const size = options.chunkBytes ?? 256 * 1024;
  let buffer = Buffer.allocUnsafe(size);
  let used = 0;
  const ready: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  request.on('data', (chunk: Buffer) => {
    if (failure !== undefined) return;
    try {
      for (const view of parser.push(chunk)) {
        let offset = 0;
        while (offset < view.length) {
          const n = Math.min(size - used, view.length - offset);
          view.copy(buffer, used, offset, offset + n);
          used += n;
          offset += n;
          if (used === size) {
            ready.push(buffer);
            buffer = Buffer.allocUnsafe(size);
            used = 0;
          }
        }
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      request.close(http2.constants.NGHTTP2_CANCEL);
    }
    if (ready.length >= READY_LIMIT) request.pause();
    if (ready.length > 0 || failure !== undefined) notify();
  });
  request.on('error', (err: Error) => {
    failure ??= err;
    notify();
  });
  // 'close' follows 'end' on success and comes alone on a reset or a cancel.
  request.on('close', () => {
    ended = true;
    notify();
  });
  let sinceGc = 0;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new GrpcStatusError(1, 'the Snapshot stream was cancelled');
      const next = ready.shift();
      if (next !== undefined) {
        if (ready.length < READY_LIMIT && request.isPaused()) request.resume();
        sinceGc += next.length;
        if (gc !== null && sinceGc >= GC_EVERY_BYTES) {
          sinceGc = 0;
          gc.young();
        }
        yield next;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (status === undefined) await new Promise((r) => setImmediate(r));
    if (status === undefined)
      throw new GrpcStatusError(13, 'the Snapshot stream ended without a gRPC status');
    if (status.code !== 0) throw new GrpcStatusError(status.code, status.details);
    if (!parser.atBoundary) throw new GrpcStatusError(13, 'the Snapshot stream ended inside a message');
    // The tail only after a clean status: a failed stream never ends with a short last buffer.
    if (used > 0) yield buffer.subarray(0, used);
  } catch (err) {
    if (err instanceof GrpcStatusError) throw err;
    if (status !== undefined && status.code !== 0) throw new GrpcStatusError(status.code, status.details);
    throw new GrpcStatusError(14, err instanceof Error ? err.message : String(err));
  } finally {
    options.signal?.removeEventListener('abort', abort);
    if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
    session.close();
  }
}
