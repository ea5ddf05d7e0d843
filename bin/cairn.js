#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc
// Cairn's entry point. The sources are TypeScript run by Node 24's type stripping,
// so refuse older Node versions with a clear message instead of a syntax error.
//
// --max-semi-space-size=2 (MiB per semi-space; V8's default lets the young generation grow to
// 2 × 64 MiB here): `cairn repo backup` of the issue-6 data peaks at ~350 instead of 430–450 MiB,
// with the same CPU seconds (docs/benchmarks.md, issue 6, "Memory"). It is a V8 heap option, so
// only the command line that starts Node can give it (v8.setFlagsFromString after start-up does not
// resize the heap, measured): the shebang is that command line for `npx cairn`, `npm run cairn`
// and the image's entry point; `node bin/cairn.js` runs without it.
//
// --expose-gc: the repository asks V8 for a young-generation collection every few MiB of
// short-lived Buffers (src/util/young-garbage.ts, measured there). Without the flag it sets the
// flag at run time and takes gc() from a fresh context.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newestSourceMtimeMs } from './source-freshness.js';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `error: Cairn needs Node.js 24 or newer, but this is Node.js ${process.versions.node}\n` +
      'hint: run it through the project (`npx cairn …` or `npm run cairn -- …`), which uses the pinned node@24, or install Node 24.\n',
  );
  process.exit(1);
}

/**
 * Runs the compiled dist/ (`npm run build`) when it is at least as new as every
 * source file — it starts in less than half the time and memory — and the
 * sources otherwise, so an edit is never hidden behind a stale build.
 * CAIRN_RUN_FROM=src|dist forces one.
 */
async function entry() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const forced = process.env.CAIRN_RUN_FROM;
  if (forced === 'src') return '../src/cli/main.ts';
  let built;
  try {
    built = JSON.parse(await readFile(path.join(root, 'dist/build-info.json'), 'utf8')).sourceMtimeMs;
  } catch {
    if (forced === 'dist') {
      process.stderr.write('error: CAIRN_RUN_FROM=dist but dist/ is missing\nhint: run `npm run build`.\n');
      process.exit(1);
    }
    return '../src/cli/main.ts';
  }
  if (forced === 'dist') return '../dist/src/cli/main.js';
  const sources = await newestSourceMtimeMs(root);
  return sources === undefined || sources <= built ? '../dist/src/cli/main.js' : '../src/cli/main.ts';
}

// A reader that stops early (`cairn backup get | head`) closes our stdout: stop quietly, as
// other Unix tools do, instead of crashing on the unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const { runCli } = await import(await entry());
process.exitCode = await runCli(process.argv.slice(2));
