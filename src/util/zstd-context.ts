/**
 * zstd with one reused context per thread, writing into a buffer the caller
 * owns.
 *
 * Why by hand: `zlib.zstdCompressSync`/`zstdDecompressSync` build a stream
 * object and a fresh native zstd context per call, and return fresh output
 * Buffers. The native memory (a compression context at level 1–3 is a few MiB)
 * is freed only when V8 collects the JS objects, and V8 starts that collection
 * for outside-heap memory only after ~64 MiB per isolate. Measured on 20,000
 * inputs of 43 KiB in a worker (`/tmp`-scripted, 2026-11-25): compress 2.26 →
 * 1.67 CPU-s and +37 → +1 MiB RSS; compress + decompress 3.57 → 2.43 CPU-s and
 * +88 → +3 MiB. No npm package does this without a native addon or a WASM copy
 * of zstd; Node's own stream object does, but it exposes only a stream API
 * that chunks and copies the output.
 *
 * How: the stream's native handle (`_handle.writeSync`, the call Node's own
 * `processChunkSync` makes) is driven directly with `ZSTD_e_end`, so each
 * input becomes one complete, independent frame in the caller's buffer. Node
 * does not pass on zstd's "bytes left to flush", and a call after a frame's
 * end starts another (empty) frame, so the compressor gives zstd an output of
 * at least the compression bound (zstd then compresses in a single pass) and
 * checks its own output's block headers for the frame's end before it returns.
 * The decompressor calls again while input is left: `zstdCompressSync` itself
 * appends an empty 9-byte frame when its output is a multiple of its 16 KiB
 * chunk (seen on a 52,686-byte file whose frame is 16,384 bytes), and blobs
 * written by it are read here. That handle is a Node internal: construction
 * checks for it and, when it is missing (another Node version), falls back to
 * the one-shot calls, so a change in Node costs memory, never correctness.
 * `zstd-context.test.ts` checks both paths against `zstdCompressSync`.
 */
import zlib from 'node:zlib';

interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  close(): void;
  onerror: (message: string, errno: number, code?: string) => void;
}

interface Native {
  readonly handle: NativeHandle;
  /** [availOut, availIn] after each writeSync. */
  readonly state: Uint32Array;
}

/** The native handle and its state, or undefined when this Node does not have them. */
function nativeOf(stream: unknown): Native | undefined {
  const s = stream as { _handle?: Partial<NativeHandle>; _writeState?: unknown };
  const handle = s._handle;
  if (
    handle === undefined ||
    typeof handle.writeSync !== 'function' ||
    typeof handle.close !== 'function' ||
    !(s._writeState instanceof Uint32Array) ||
    s._writeState.length !== 2
  )
    return undefined;
  return { handle: handle as NativeHandle, state: s._writeState };
}

/**
 * Bytes of a complete zstd frame at the start of `bytes[0, end)`, or -1 while
 * it is unfinished (RFC 8878 §3.1.1: header, blocks up to the one marked last,
 * then the optional checksum).
 */
export function zstdFrameLength(bytes: Uint8Array, end: number): number {
  if (end < 5) return -1;
  if (bytes[0] !== 0x28 || bytes[1] !== 0xb5 || bytes[2] !== 0x2f || bytes[3] !== 0xfd)
    throw new Error('not a zstd frame');
  const descriptor = bytes[4] as number;
  const singleSegment = (descriptor >> 5) & 1;
  const contentSizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6] as number;
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3] as number;
  let at = 5 + (singleSegment === 1 ? 0 : 1) + dictionaryIdBytes + contentSizeBytes;
  for (;;) {
    if (at + 3 > end) return -1;
    const header =
      (bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new Error('reserved zstd block type');
    at += 3 + (type === 1 ? 1 : size); // RLE: one byte, repeated `size` times
    if (last === 1) break;
  }
  at += (descriptor >> 2) & 1 ? 4 : 0;
  return at <= end ? at : -1;
}

/** One reusable native context; `make` builds a fresh one after anything unexpected. */
class Context {
  readonly #make: () => zlib.ZstdCompress | zlib.ZstdDecompress;
  #native: Native | undefined;
  #error: Error | undefined;

  constructor(make: () => zlib.ZstdCompress | zlib.ZstdDecompress, reuse: boolean) {
    this.#make = make;
    this.#native = reuse ? this.#open() : undefined;
  }

  /** False on a Node without the internal handle (or when asked): callers take the one-shot calls. */
  get reusable(): boolean {
    return this.#native !== undefined;
  }

  #open(): Native | undefined {
    const native = nativeOf(this.#make());
    if (native === undefined) return undefined;
    // The handle reports errors through this callback (synchronously, inside writeSync).
    native.handle.onerror = (message, _errno, code) => {
      this.#error = new Error(code === undefined ? message : `${message} (${code})`);
    };
    return native;
  }

  /** Drops the context (its state is unknown after an error) for a fresh one. */
  renew(): void {
    this.#native?.handle.close();
    this.#native = this.#open();
  }

  /** One writeSync with `ZSTD_e_end`; returns [bytes read, bytes written]; throws (after renewing) on an error. */
  step(input: Uint8Array, inAt: number, out: Uint8Array, outAt: number): [number, number] {
    const native = this.#native;
    if (native === undefined) throw new Error('zstd context is not reusable on this Node');
    this.#error = undefined;
    const inLength = input.length - inAt;
    const outLength = out.length - outAt;
    native.handle.writeSync(zlib.constants.ZSTD_e_end, input, inAt, inLength, out, outAt, outLength);
    const error = this.#error as Error | undefined;
    if (error !== undefined) {
      this.renew();
      throw error;
    }
    return [inLength - (native.state[1] as number), outLength - (native.state[0] as number)];
  }
}

/** `reuse: false` takes the one-shot calls (what a Node without the internal handle gets); for tests. */
export interface ZstdContextOptions {
  readonly reuse?: boolean;
}

/** The most a zstd frame of `n` bytes of input can take (ZSTD_COMPRESSBOUND, rounded up generously). */
export function zstdBound(n: number): number {
  return n + (n >> 7) + 1024;
}

/** Compresses inputs one at a time, each into one standard zstd frame, reusing one context. */
export class ZstdCompressor {
  readonly #level: number;
  readonly #context: Context;

  constructor(level: number, options: ZstdContextOptions = {}) {
    this.#level = level;
    this.#context = new Context(
      () => zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }),
      options.reuse ?? true,
    );
  }

  /**
   * Compresses `input` into `out` (at least {@link zstdBound} of the input)
   * and returns the frame's length.
   */
  compressInto(input: Uint8Array, out: Uint8Array): number {
    if (out.length < zstdBound(input.length))
      throw new RangeError(`zstd output buffer of ${out.length} bytes is below the bound`);
    if (!this.#context.reusable) {
      const compressed = zlib.zstdCompressSync(input, {
        params: { [zlib.constants.ZSTD_c_compressionLevel]: this.#level },
      });
      out.set(compressed);
      return compressed.length;
    }
    let read = 0;
    let written = 0;
    // One call with a bound-sized output; more only if zstd ever stops short of the frame's end.
    for (let calls = 0; calls < 64; calls++) {
      const [r, w] = this.#context.step(input, read, out, written);
      read += r;
      written += w;
      if (read === input.length && zstdFrameLength(out, written) === written) return written;
      if (r === 0 && w === 0) break;
    }
    this.#context.renew();
    throw new Error('zstd did not finish the frame');
  }
}

/** Decompresses whole zstd frames of known size, reusing one context. */
export class ZstdDecompressor {
  readonly #context: Context;

  constructor(options: ZstdContextOptions = {}) {
    this.#context = new Context(() => zlib.createZstdDecompress(), options.reuse ?? true);
  }

  /**
   * Decompresses a frame (or frames, as zstdDecompressSync does) into `out`
   * and returns the content's length. Throws when the input is not zstd, its
   * content is longer than `out` (give one byte more than expected to tell
   * "exactly" from "longer"), or it is truncated.
   */
  decompressInto(input: Uint8Array, out: Uint8Array): number {
    if (!this.#context.reusable) {
      const plain = zlib.zstdDecompressSync(input, { maxOutputLength: Math.max(1, out.length) });
      if (plain.length === out.length)
        throw new Error(`zstd content is longer than the ${out.length} bytes expected`);
      out.set(plain);
      return plain.length;
    }
    let read = 0;
    let written = 0;
    // Input left after a frame: the empty frame zstdCompressSync may append (see above).
    while (read < input.length) {
      const [r, w] = this.#context.step(input, read, out, written);
      read += r;
      written += w;
      if (written === out.length) {
        this.#context.renew();
        throw new Error(`zstd content is longer than the ${out.length} bytes expected`);
      }
      if (r === 0 && w === 0) {
        this.#context.renew();
        throw new Error('zstd stopped before the end of its input');
      }
    }
    return written;
  }
}
