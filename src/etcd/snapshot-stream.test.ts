import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SnapshotFrameParser } from './snapshot-stream.ts';

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
