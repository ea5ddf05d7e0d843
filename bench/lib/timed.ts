import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
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
  /**
   * With `sampleMemory`: the most anonymous memory (heap, stacks, buffers — RSS
   * without the pages of the program's binary and libraries) the command's
   * processes held at once, sampled every 25 ms from /proc/PID/smaps_rollup.
   */
  readonly peakAnonKiB?: number;
}

/** Processes below `pid` (children, grandchildren, …), from /proc/PID/task/TID/children. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return; // gone
    }
    for (const c of children) {
      out.push(c);
      visit(c);
    }
  };
  visit(pid);
  return out;
}

/** Anonymous KiB of a set of processes now (those that exit meanwhile count 0). */
function anonKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /^Anonymous:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      sum += Number(m?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return sum;
}

export const TIME_BIN = '/usr/bin/time';

/**
 * Runs `command args` under `/usr/bin/time -f '%e %U %S %M'`, with its output going to
 * `logFile`. Rejects (with the log tail) when the command fails.
 */
export async function runTimed(
  command: string,
  args: readonly string[],
  options: {
    env: NodeJS.ProcessEnv;
    logFile: string;
    timeFile: string;
    cwd?: string;
    sampleMemory?: boolean;
  },
): Promise<Timing> {
  let peakAnon = 0;
  await writeFile(options.logFile, `$ ${command} ${args.join(' ')}\n`);
  const fd = openSync(options.logFile, 'a');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(TIME_BIN, ['-f', '%e %U %S %M', '-o', options.timeFile, command, ...args], {
        env: options.env,
        stdio: ['ignore', fd, fd],
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      });
      const sampler =
        options.sampleMemory === true && child.pid !== undefined
          ? setInterval(() => {
              peakAnon = Math.max(peakAnon, anonKiB(descendants(child.pid as number)));
            }, 25)
          : undefined;
      child.on('error', reject);
      child.on('exit', (c, signal) => {
        clearInterval(sampler);
        resolve(c ?? (signal ? 128 : 1));
      });
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
  return {
    wall,
    user,
    sys,
    maxRssKiB: rss,
    ...(options.sampleMemory === true ? { peakAnonKiB: peakAnon } : {}),
  };
}

/** The median of a non-empty list (mean of the middle two for even lengths). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? Number.NaN;
  if (sorted.length % 2 === 1) return hi;
  return ((sorted[mid - 1] ?? Number.NaN) + hi) / 2;
}
