/**
 * Compiles src/ and sandbox/ to plain JavaScript in dist/ (what the container
 * image and `bin/cairn.js` run when it is fresh).
 *
 * Why a build at all when Node 24 strips types: stripping loads a WASM parser
 * and parses every file on each start — measured here, `cairn --version` takes
 * 110 MiB and 0.5 CPU-s from the sources, 76 MiB and 0.2 CPU-s from dist/.
 * Development and tests still run the sources directly; bin/cairn.js falls back
 * to them whenever a source file is newer than the build (see build-info.json).
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newestSourceMtimeMs } from '../bin/source-freshness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

const started = Date.now();
// Recorded before compiling: a file saved during the build makes the build stale, never fresh.
const sourceMtimeMs = await newestSourceMtimeMs(root);
await rm(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
// Files the code reads next to itself at run time.
await cp(path.join(root, 'src/etcd/proto'), path.join(dist, 'src/etcd/proto'), { recursive: true });
const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};
await writeFile(
  path.join(dist, 'package.json'),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
);
await mkdir(dist, { recursive: true });
await writeFile(
  path.join(dist, 'build-info.json'),
  `${JSON.stringify({ sourceMtimeMs, builtAt: new Date().toISOString() })}\n`,
);
process.stdout.write(`build: dist/ written in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
