import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import tar from 'tar-stream';
import { CairnError } from '../errors/cairn-error.ts';
import { itemPath, parseItemPath, ResourceArchiveWriter, readResourceArchive } from './resource-archive.ts';

async function collectBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function readAll(bytes: Buffer, limits?: Parameters<typeof readResourceArchive>[1]) {
  const out = [];
  for await (const item of readResourceArchive(Readable.from([bytes]), limits)) out.push(item);
  return out;
}

/** A hand-made archive, for hostile inputs the writer would never produce. */
async function rawArchive(
  entries: { header: Parameters<ReturnType<typeof tar.pack>['entry']>[0]; body?: string }[],
): Promise<Buffer> {
  const pack = tar.pack();
  for (const { header, body } of entries) pack.entry(header, body ?? '');
  pack.finalize();
  return zstdCompressSync(await collectBytes(pack as unknown as Readable));
}

const hostile =
  (code = 'ARCHIVE_HOSTILE') =>
  (e: unknown) =>
    e instanceof CairnError && e.code === code;

describe('resource archive paths', () => {
  it('follows the Velero-like layout and parses back', () => {
    const cm = { group: '', version: 'v1', resource: 'configmaps', namespace: 'team-a', name: 'settings' };
    assert.equal(itemPath(cm), 'resources/configmaps/v1/namespaces/team-a/settings.json');
    assert.deepEqual(parseItemPath(itemPath(cm)), cm);
    const role = {
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      resource: 'clusterroles',
      name: 'system:aggregate-to-edit',
    };
    assert.equal(
      itemPath(role),
      'resources/clusterroles.rbac.authorization.k8s.io/v1/cluster/system:aggregate-to-edit.json',
    );
    assert.deepEqual(parseItemPath(itemPath(role)), role);
  });

  it('refuses paths outside the grammar', () => {
    for (const bad of [
      '../etc/passwd',
      '/resources/configmaps/v1/cluster/a.json',
      'resources/configmaps/v1/namespaces/../x/a.json',
      'resources/configmaps/v1/cluster/a.txt',
      'resources/configmaps/v1/cluster/sub/a.json',
      'other/configmaps/v1/cluster/a.json',
    ]) {
      assert.throws(() => parseItemPath(bad), hostile(), bad);
    }
    assert.throws(() =>
      itemPath({ group: '', version: 'v1', resource: 'configmaps', namespace: 'a', name: '..' }),
    );
  });
});

describe('ResourceArchiveWriter / readResourceArchive', () => {
  it('round-trips objects, measures the compressed bytes, and compresses', async () => {
    const writer = new ResourceArchiveWriter();
    const bytesPromise = collectBytes(writer.readable);
    const objects = Array.from({ length: 300 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, namespace: i % 2 ? 'odd' : 'even' },
      data: { value: 'x'.repeat(200) },
    }));
    for (const o of objects) {
      await writer.add(
        {
          group: '',
          version: 'v1',
          resource: 'configmaps',
          namespace: o.metadata.namespace,
          name: o.metadata.name,
        },
        o,
      );
    }
    await writer.finish();
    const bytes = await bytesPromise;
    assert.equal(writer.measure.size, bytes.length);
    assert.equal(writer.measure.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.ok(
      bytes.length < (300 * 250) / 4,
      `zstd should shrink repetitive objects, got ${bytes.length} bytes`,
    );
    const items = await readAll(bytes);
    assert.equal(items.length, 300);
    assert.deepEqual(
      items.map((i) => i.object),
      objects,
    );
    assert.equal(items[1]?.ref.namespace, 'odd');
  });

  it("writes the same tar bytes as tar-stream's pack (ustar prefix, PAX for long or non-ASCII paths, padding)", async () => {
    const mtime = new Date('2026-11-25T12:00:00Z');
    const writer = new ResourceArchiveWriter({ mtime });
    const compressed = collectBytes(writer.readable);
    const pack = tar.pack();
    const expected = collectBytes(pack as unknown as Readable);
    const refs = [
      { group: '', version: 'v1', resource: 'configmaps', namespace: 'a', name: 'empty' },
      {
        group: 'apps',
        version: 'v1',
        resource: 'deployments',
        namespace: 'n'.repeat(63),
        name: 'd'.repeat(60),
      },
      { group: 'x.example.com', version: 'v1', resource: 'widgets', namespace: 'ns', name: 'w'.repeat(253) },
      { group: '', version: 'v1', resource: 'configmaps', namespace: 'ns', name: 'ünïcødé' },
      { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', name: 'system:edit' },
    ];
    const sizes = [0, 511, 512, 513, 300 * 1024];
    for (const [i, ref] of refs.entries()) {
      const body = Buffer.alloc(sizes[i] as number, 0x61 + i);
      writer.append(ref, i === 2 ? [body.subarray(0, 100), body.subarray(100)] : body);
      pack.entry({ name: itemPath(ref), size: body.length, mode: 0o644, mtime, type: 'file' }, body);
    }
    pack.finalize();
    await writer.finish();
    assert.deepEqual(zstdDecompressSync(await compressed), await expected);
  });

  it('refuses symlinks, traversal, oversized and too many entries, bad JSON and mismatched metadata', async () => {
    const ok = { name: 'resources/configmaps/v1/namespaces/a/x.json' };
    const body = JSON.stringify({ metadata: { name: 'x', namespace: 'a' } });
    await assert.rejects(
      readAll(
        await rawArchive([
          {
            header: {
              name: 'resources/configmaps/v1/namespaces/a/x.json',
              type: 'symlink',
              linkname: '/etc/passwd',
            },
          },
        ]),
      ),
      hostile(),
    );
    await assert.rejects(
      readAll(await rawArchive([{ header: { name: '../../etc/cron.d/evil' }, body }])),
      hostile(),
    );
    await assert.rejects(
      readAll(await rawArchive([{ header: ok, body: 'x'.repeat(2000) }]), {
        maxEntryBytes: 1000,
        maxEntries: 10,
      }),
      /more than the 1000 allowed/,
    );
    await assert.rejects(
      readAll(
        await rawArchive([
          { header: ok, body },
          { header: ok, body },
        ]),
        { maxEntryBytes: 1000, maxEntries: 1 },
      ),
      /more than 1 entries/,
    );
    await assert.rejects(readAll(await rawArchive([{ header: ok, body: '{not json' }])), /not valid JSON/);
    await assert.rejects(
      readAll(
        await rawArchive([
          { header: ok, body: JSON.stringify({ metadata: { name: 'other', namespace: 'a' } }) },
        ]),
      ),
      /does not match its path/,
    );
    assert.equal((await readAll(await rawArchive([{ header: ok, body }]))).length, 1);
  });

  it('reports a truncated or damaged archive as corrupt', async () => {
    const writer = new ResourceArchiveWriter();
    const bytesPromise = collectBytes(writer.readable);
    for (let i = 0; i < 50; i++) {
      await writer.add(
        { group: '', version: 'v1', resource: 'secrets', namespace: 'n', name: `s${i}` },
        { metadata: { name: `s${i}`, namespace: 'n' }, data: { k: String(i).repeat(100) } },
      );
    }
    await writer.finish();
    const bytes = await bytesPromise;
    await assert.rejects(
      readAll(bytes.subarray(0, Math.floor(bytes.length / 2))),
      (e: unknown) => e instanceof CairnError && /ARCHIVE_(CORRUPT|HOSTILE)/.test(e.code),
    );
    const flipped = Buffer.from(bytes);
    const at = Math.floor(bytes.length / 2);
    flipped[at] = (flipped[at] ?? 0) ^ 0xff;
    await assert.rejects(readAll(flipped), (e: unknown) => e instanceof Error);
  });
});
