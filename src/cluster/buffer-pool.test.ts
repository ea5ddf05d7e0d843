import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BufferPool } from './buffer-pool.ts';
import { ClusterConnection } from './connection.ts';
import { KubeApiError } from './kube-api-error.ts';

describe('BufferPool', () => {
  it('hands released buffers out again, and a bigger one when asked for more', () => {
    const pool = new BufferPool(2, 1024);
    const a = pool.take(100);
    assert.equal(a.length, 1024);
    pool.release(a);
    assert.equal(pool.take(1000), a, 'reused');
    const big = pool.take(3000);
    assert.equal(big.length, 4096, 'rounded up to a power of two');
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, big.length, 'a whole ArrayBuffer of its own');
  });

  it('keeps no more than it was told to', () => {
    const pool = new BufferPool(1, 16);
    const [a, b] = [pool.take(1), pool.take(1)];
    pool.release(a);
    pool.release(b);
    assert.equal(pool.take(1), a);
    assert.notEqual(pool.take(1), b, 'the second release was dropped');
  });
});

describe('ClusterConnection.requestPooled', () => {
  it('reads chunked bodies of any size into pooled buffers, byte for byte, and errors as usual', async () => {
    const body = Buffer.from(JSON.stringify({ items: Array.from({ length: 5000 }, (_, i) => ({ i })) }));
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/missing')) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'gone' }));
      }
      const sized = req.url?.startsWith('/sized');
      res.writeHead(200, {
        'Content-Type': 'application/json',
        ...(sized ? { 'Content-Length': body.length } : {}),
      });
      // Several writes: chunked transfer, no Content-Length unless asked.
      for (let at = 0; at < body.length; at += 7000) res.write(body.subarray(at, at + 7000));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-pool-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const connection = await ClusterConnection.connect({ kubeconfig });
    try {
      // Smaller than one body: the reader moves to bigger buffers as the body grows.
      const pool = new BufferPool(4, 4096);
      for (const url of ['/chunked', '/sized', '/chunked']) {
        const page = await connection.requestPooled('GET', url, { pool });
        assert.ok(page.bytes.equals(body), url);
        assert.ok(page.bytes.buffer.byteLength >= body.length);
        page.release();
      }
      const reused = await connection.requestPooled('GET', '/chunked', { pool });
      const again = await connection.requestPooled('GET', '/chunked', { pool });
      assert.notEqual(reused.bytes.buffer, again.bytes.buffer, 'a buffer in use is never handed out twice');
      assert.ok(again.bytes.equals(body));
      await assert.rejects(
        connection.requestPooled('GET', '/missing', { pool }),
        (err) => err instanceof KubeApiError && err.status === 404,
      );
    } finally {
      connection.close();
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
