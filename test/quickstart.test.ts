/** The README's first command must keep working: run the quickstart as a user would. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('npm run quickstart backs up, deletes, restores and verifies every object', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'cairn-quickstart-'));
  try {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(root, 'scripts/quickstart.ts')],
        { cwd, timeout: 300_000, maxBuffer: 1 << 24 },
        (err, out) =>
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout: out }),
      );
    });
    assert.equal(code, 0, stdout);
    assert.match(stdout, /Backup "quickstart-\d{14}" Completed: \d+ items/);
    assert.match(stdout, /0 of \d+ seeded objects left in the cluster/);
    assert.match(stdout, /All (\d+) objects restored identical\./);
    const backups = await readdir(path.join(cwd, 'cairn-data', 'backups'));
    assert.equal(backups.length, 1);
    assert.ok(
      (await readdir(path.join(cwd, 'cairn-data', 'backups', backups[0] ?? ''))).includes('manifest.json'),
    );
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
});
