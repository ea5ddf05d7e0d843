import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

/** What /usr/bin/time reports for one child process. */
export interface Timing {
  /** Wall-clock seconds. */
  readonly wall: number;
  /** User and system CPU seconds. */
  readonly user: number;
  readonly sys: number;
  /** Peak resident set size in KiB. */
  readonly maxRssKiB: number;
}

export const TIME_BIN = '/usr/bin/time';

/**
 * Runs `command args` under `/usr/bin/time -f '%e %U %S %M'`, with its output going to
 * `logFile`. Rejects (with the log tail) when the command fails.
 */
export async function runTimed(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; logFile: string; timeFile: string; cwd?: string },
): Promise<Timing> {
  await writeFile(options.logFile, `$ ${command} ${args.join(' ')}\n`);
  const fd = openSync(options.logFile, 'a');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(TIME_BIN, ['-f', '%e %U %S %M', '-o', options.timeFile, command, ...args], {
        env: options.env,
        stdio: ['ignore', fd, fd],
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      });
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
    if (code !== 0) {
      const log = await readFile(options.logFile, 'utf8').catch(() => '');
      throw new Error(
        `${command} ${args.join(' ')} exited with ${code}\n----- ${options.logFile} (tail) -----\n${log.split('\n').slice(-30).join('\n')}`,
      );
    }
  } finally {
    closeSync(fd);
  }
  const text = (await readFile(options.timeFile, 'utf8')).trim().split('\n').pop() ?? '';
  const [wall, user, sys, rss] = text.split(/\s+/).map(Number);
  if (
    wall === undefined ||
    user === undefined ||
    sys === undefined ||
    rss === undefined ||
    Number.isNaN(rss)
  ) {
    throw new Error(`cannot parse ${TIME_BIN} output ${JSON.stringify(text)}`);
  }
  return { wall, user, sys, maxRssKiB: rss };
}

/** The median of a non-empty list (mean of the middle two for even lengths). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? Number.NaN;
  if (sorted.length % 2 === 1) return hi;
  return ((sorted[mid - 1] ?? Number.NaN) + hi) / 2;
}
