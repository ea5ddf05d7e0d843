import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { coalesce } from './coalesce.ts';

describe('coalesce', () => {
  it('passes the same bytes on in chunks of at least the threshold (except the last)', async () => {
    const inputs = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(37 + (i % 50), i % 256));
    const out: Buffer[] = [];
    for await (const chunk of Readable.from(inputs).pipe(coalesce(4096))) out.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(out), Buffer.concat(inputs));
    assert.ok(out.slice(0, -1).every((c) => c.length >= 4096));
    assert.ok(out.length < 40, `${out.length} chunks`);
  });
});
