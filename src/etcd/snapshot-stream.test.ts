import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { GrpcStatusError, SnapshotFrameParser, snapshotStream } from './snapshot-stream.ts';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** One gRPC-framed SnapshotResponse as etcd sends it: header, remaining_bytes, blob (+ version). */
function message(blob: Buffer, remaining: number, version?: string): Buffer {
  const header = Buffer.concat([Buffer.from([0x08]), varint(123456789), Buffer.from([0x18]), varint(42)]);
  const body = Buffer.concat([
    Buffer.from([0x0a]),
    varint(header.length),
    header,
    Buffer.from([0x10]),
    varint(remaining),
    Buffer.from([0x1a]),
    varint(blob.length),
    blob,
    ...(version === undefined ? [] : [Buffer.from([0x22]), varint(version.length), Buffer.from(version)]),
  ]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

describe('SnapshotFrameParser', () => {
  const blobs = [randomBytes(32 * 1024), randomBytes(200), Buffer.alloc(0), randomBytes(70_000)];
  const total = blobs.reduce((n, b) => n + b.length, 0);
  let left = total;
  const stream = Buffer.concat(
    blobs.map((b, i) => {
      left -= b.length;
      return message(b, left, i === 3 ? '3.6.0' : undefined);
    }),
  );

  it('yields exactly the blob bytes, however the stream is split', () => {
    for (const size of [1, 2, 3, 5, 7, 16_384, 100_000, stream.length]) {
      const parser = new SnapshotFrameParser();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...parser.push(stream.subarray(i, i + size)));
      assert.ok(Buffer.concat(out).equals(Buffer.concat(blobs)), `split every ${size}`);
      assert.equal(parser.blobBytes, total);
      assert.equal(parser.remainingBytes, 0);
      assert.equal(parser.atBoundary, true);
    }
  });

  it('hands out views into the received chunk (no copy)', () => {
    const parser = new SnapshotFrameParser();
    const views = parser.push(stream);
    assert.ok(views.every((v) => v.buffer === stream.buffer));
  });

  it('notices a stream cut inside a message, and rejects compressed messages', () => {
    const parser = new SnapshotFrameParser();
    parser.push(stream.subarray(0, 1000));
    assert.equal(parser.atBoundary, false);
    const compressed = Buffer.from(stream);
    compressed[0] = 1;
    assert.throws(() => new SnapshotFrameParser().push(compressed), /compressed/);
  });
});

describe('snapshotStream (against a local HTTP/2 server speaking gRPC framing)', () => {
  interface Reply {
    /** Bytes of the response body, written in pieces of `split` bytes. */
    readonly body: Buffer;
    readonly split?: number;
    /** Trailers; omitted = status 0. `reset` = RST_STREAM after the body instead of trailers. */
    readonly trailers?: Record<string, string> | 'reset';
  }

  async function withServer(
    reply: Reply,
    run: (url: string, seen: { token?: string }) => Promise<void>,
  ): Promise<void> {
    const seen: { token?: string } = {};
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      seen.token = headers.token as string | undefined;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        stream.sendTrailers(
          reply.trailers === undefined || reply.trailers === 'reset'
            ? { 'grpc-status': '0' }
            : reply.trailers,
        );
      });
      stream.on('error', () => {});
      const split = reply.split ?? reply.body.length;
      for (let i = 0; i < reply.body.length; i += split) stream.write(reply.body.subarray(i, i + split));
      if (reply.trailers === 'reset') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else stream.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      await run(`http://127.0.0.1:${port}`, seen);
    } finally {
      server.close();
    }
  }

  const blobs = Array.from({ length: 40 }, (_, i) => randomBytes(i % 3 === 0 ? 32 * 1024 : 10_000 + i));
  const total = blobs.reduce((n, b) => n + b.length, 0);
  let left = total;
  const body = Buffer.concat(
    blobs.map((b) => {
      left -= b.length;
      return message(b, left);
    }),
  );

  it('yields the blob bytes in buffers of chunkBytes (the last one shorter) and sends the token', async () => {
    await withServer({ body, split: 7_000 }, async (url, seen) => {
      const out: Buffer[] = [];
      for await (const b of snapshotStream({ url, token: 'tok', chunkBytes: 64 * 1024 })) out.push(b);
      assert.ok(Buffer.concat(out).equals(Buffer.concat(blobs)));
      assert.ok(out.slice(0, -1).every((b) => b.length === 64 * 1024));
      assert.equal(seen.token, 'tok');
    });
  });

  it('fails with the gRPC status of the trailers, and yields no short last buffer', async () => {
    await withServer(
      { body, trailers: { 'grpc-status': '7', 'grpc-message': 'permission%20denied' } },
      async (url) => {
        const out: Buffer[] = [];
        await assert.rejects(
          (async () => {
            for await (const b of snapshotStream({ url, chunkBytes: 64 * 1024 })) out.push(b);
          })(),
          (err: unknown) =>
            err instanceof GrpcStatusError && err.code === 7 && err.details === 'permission denied',
        );
        assert.ok(out.every((b) => b.length === 64 * 1024));
      },
    );
  });

  it('fails when the stream ends inside a message or is reset', async () => {
    await withServer({ body: body.subarray(0, body.length - 100) }, async (url) => {
      await assert.rejects(
        (async () => {
          for await (const _ of snapshotStream({ url })) {
          }
        })(),
        /ended inside a message/,
      );
    });
    await withServer({ body: body.subarray(0, 50_000), trailers: 'reset' }, async (url) => {
      await assert.rejects(
        (async () => {
          for await (const _ of snapshotStream({ url })) {
          }
        })(),
        GrpcStatusError,
      );
    });
  });

  it('stops when the signal aborts', async () => {
    await withServer({ body, split: 1_000 }, async (url) => {
      const controller = new AbortController();
      await assert.rejects(
        (async () => {
          for await (const _ of snapshotStream({ url, chunkBytes: 16 * 1024, signal: controller.signal }))
            controller.abort();
        })(),
        (err: unknown) => err instanceof GrpcStatusError && err.code === 1,
      );
    });
  });
});
