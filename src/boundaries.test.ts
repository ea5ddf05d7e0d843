/**
 * Enforces the source layout of ARCHITECTURE.md (after kubernetes-fluent-client's
 * folder-boundary test): base folders import nothing else from src/, storage only
 * the base, only the CLI imports controller/ and server/ (and the controller
 * server/), nothing imports cli/, and product code never
 * imports the sandbox — except the CLI's lazy `cairn sandbox` launcher.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = path.dirname(fileURLToPath(import.meta.url));
const BASE = new Set(['api', 'errors', 'util']);
const TOP = new Set(['cli', 'controller', 'server']);

/** Which top folders of src/ each folder may import (itself always allowed). */
function allowed(from: string, to: string): boolean {
  if (from === to) return true;
  if (to === 'sandbox') return false;
  if (BASE.has(from)) return BASE.has(to);
  if (from === 'storage') return BASE.has(to);
  // The CLI starts the controller (`cairn server`) and its HTTP endpoint; the controller serves
  // its metrics through server/. Nothing else reaches up into the top folders.
  if (from === 'cli' && (to === 'controller' || to === 'server')) return true;
  if (from === 'controller' && to === 'server') return true;
  if (TOP.has(to)) return false;
  return true;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).filter((f) => f.endsWith('.ts'));
}

describe('source layout boundaries', () => {
  it('every import in src/ respects the folder rules', async () => {
    const violations: string[] = [];
    let launcherSeen = false;
    for (const file of await sourceFiles(src)) {
      const from = file.split(path.sep)[0] ?? '';
      if (!file.includes(path.sep)) continue; // files directly in src/ (this test)
      const text = await readFile(path.join(src, file), 'utf8');
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = path.relative(src, path.resolve(path.dirname(path.join(src, file)), match[1] ?? ''));
        const to = target.startsWith('..')
          ? (target.split(path.sep)[1] ?? '')
          : (target.split(path.sep)[0] ?? '');
        const isSandboxLauncher = file === path.join('cli', 'main.ts') && to === 'sandbox';
        launcherSeen ||= isSandboxLauncher;
        if (!allowed(from, to) && !isSandboxLauncher) violations.push(`${file} imports ${match[1]}`);
      }
    }
    assert.deepEqual(violations, []);
    assert.ok(launcherSeen, 'the scanner must see the dynamic import of the sandbox launcher');
  });

  it('the rules themselves reject what they should', () => {
    assert.equal(allowed('storage', 'catalog'), false);
    assert.equal(allowed('errors', 'storage'), false);
    assert.equal(allowed('backup', 'cli'), false);
    assert.equal(allowed('catalog', 'sandbox'), false);
    assert.equal(allowed('catalog', 'storage'), true);
    assert.equal(allowed('cli', 'controller'), true);
    assert.equal(allowed('controller', 'server'), true);
    assert.equal(allowed('server', 'controller'), false);
    assert.equal(allowed('controller', 'cli'), false);
    assert.equal(allowed('backup', 'controller'), false);
    assert.equal(allowed('schedule', 'server'), false);
  });
});
