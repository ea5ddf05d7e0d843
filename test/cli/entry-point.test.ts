/**
 * bin/cairn.js runs the compiled dist/ only when it is as new as every source
 * file, so an edit is never hidden behind a stale build. Checked on a stand-in
 * tree (the real build takes ~15 s and is exercised by CI's `npm ci`).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A main module whose runCli prints where it was loaded from. */
const stub = (from: string) =>
  `export async function runCli(argv) { process.stdout.write('${from} ' + argv.join(' ')); return 0; }\n`;

describe('bin/cairn.js entry point', () => {
  let root = '';
  const cairn = async (env: Record<string, string> = {}) =>
    (await run(process.execPath, [path.join(root, 'bin/cairn.js'), 'x'], { env: { ...process.env, ...env } }))
      .stdout;
  const setBuild = async (sourceMtimeMs: number) =>
    writeFile(path.join(root, 'dist/build-info.json'), JSON.stringify({ sourceMtimeMs }));

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cairn-entry-'));
    await cp(path.join(repo, 'bin'), path.join(root, 'bin'), { recursive: true });
    await writeFile(path.join(root, 'package.json'), '{"type":"module"}');
    await mkdir(path.join(root, 'src/cli'), { recursive: true });
    await mkdir(path.join(root, 'dist/src/cli'), { recursive: true });
    await writeFile(path.join(root, 'src/cli/main.ts'), stub('src'));
    await writeFile(path.join(root, 'dist/src/cli/main.js'), stub('dist'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('runs the sources when there is no build', async () => {
    assert.equal(await cairn(), 'src x');
  });

  it('runs dist/ when the build is as new as every source file', async () => {
    const t = new Date('2026-01-01T00:00:00Z');
    await utimes(path.join(root, 'src/cli/main.ts'), t, t);
    await setBuild(t.getTime());
    assert.equal(await cairn(), 'dist x');
  });

  it('runs the sources again as soon as one file is newer than the build', async () => {
    await mkdir(path.join(root, 'sandbox'), { recursive: true });
    await writeFile(path.join(root, 'sandbox/edited.ts'), '');
    assert.equal(await cairn(), 'src x');
  });

  it('CAIRN_RUN_FROM forces either, and a forced dist/ that is missing is a clear error', async () => {
    assert.equal(await cairn({ CAIRN_RUN_FROM: 'dist' }), 'dist x');
    assert.equal(await cairn({ CAIRN_RUN_FROM: 'src' }), 'src x');
    await rm(path.join(root, 'dist/build-info.json'));
    await assert.rejects(cairn({ CAIRN_RUN_FROM: 'dist' }), (err: Error & { stderr: string }) => {
      assert.match(err.stderr, /dist\/ is missing[\s\S]*npm run build/);
      return true;
    });
  });

  it('started through its shebang (as npx and the image do), Node gets the small young generation and gc()', async () => {
    await writeFile(
      path.join(root, 'src/cli/main.ts'),
      "import v8 from 'node:v8';\nexport async function runCli() { let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i }); if (keep.length > 20000) keep = []; } const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space'); process.stdout.write(s.space_size + ' ' + typeof globalThis.gc); return 0; }\n",
    );
    const { stdout } = await run(path.join(root, 'bin/cairn.js'), [], {
      env: {
        ...process.env,
        CAIRN_RUN_FROM: 'src',
        PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`,
      },
    });
    // --max-semi-space-size=2: two semi-spaces of at most 2 MiB; the stub's garbage with survivors
    // grows V8's default young generation to 2 × 64 MiB.
    const [newSpace, gc] = stdout.split(' ');
    assert.ok(Number(newSpace) > 0 && Number(newSpace) <= 4 * 2 ** 20, `new space ${newSpace} bytes`);
    // --expose-gc: the repository's young collections (src/util/young-garbage.ts) need no run-time flag.
    assert.equal(gc, 'function');
  });

  it('stops quietly with the exit code so far when the reader closes stdout early (| head)', async () => {
    await writeFile(
      path.join(root, 'src/cli/main.ts'),
      "export async function runCli() { for (;;) { if (!process.stdout.write('y\\n'.repeat(65536))) await new Promise((r) => process.stdout.once('drain', r)); } }\n",
    );
    const child = spawn(process.execPath, [path.join(root, 'bin/cairn.js')], {
      env: { ...process.env, CAIRN_RUN_FROM: 'src' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await once(child.stdout, 'data');
    child.stdout.destroy();
    const [code] = await once(child, 'exit');
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });
});
