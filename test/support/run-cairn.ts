import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CairnRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `cairn` binary (bin/cairn.js) under the same Node as the tests, as a user would. */
export function runCairn(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CairnRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'bin/cairn.js'), ...args],
      {
        // A clean environment: no AWS settings leak in from the developer's shell.
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
