/**
 * Shared pieces of the controller-API tests: a sandbox API server, the real
 * `cairn` binary and the real kubectl (/usr/bin/kubectl) pointed at it, each
 * with a private HOME so kubectl's discovery cache never leaks between
 * sandboxes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Sandbox, startSandbox } from '../../sandbox/index.ts';
import { type CairnRun, runCairn } from '../support/run-cairn.ts';

export const KUBECTL = '/usr/bin/kubectl';

export interface ApiSandbox {
  readonly sandbox: Sandbox;
  readonly home: string;
  /** Runs `cairn …` against the sandbox. */
  cairn(args: string[]): Promise<CairnRun>;
  /** Runs kubectl against the sandbox, optionally with stdin. */
  kubectl(args: string[], stdin?: string): Promise<CairnRun>;
  /** kubectl … -o json, parsed; throws when kubectl fails. */
  kubectlJson<T = Record<string, unknown>>(args: string[]): Promise<T>;
  stop(): Promise<void>;
}

export async function startApiSandbox(): Promise<ApiSandbox> {
  const sandbox = await startSandbox();
  const home = await mkdtemp(join(tmpdir(), 'cairn-api-test-home-'));
  const env = { KUBECONFIG: sandbox.kubeconfig, HOME: home };
  const kubectl = (args: string[], stdin?: string) =>
    new Promise<CairnRun>((resolve) => {
      const child = execFile(
        KUBECTL,
        args,
        { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(stdin ?? '');
    });
  return {
    sandbox,
    home,
    cairn: (args) => runCairn(args, env),
    kubectl,
    kubectlJson: async <T>(args: string[]) => {
      const run = await kubectl([...args, '-o', 'json']);
      if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
      return JSON.parse(run.stdout) as T;
    },
    stop: async () => {
      await sandbox.stop();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Fails with the command's output when it did not exit 0. */
export function ok(run: CairnRun, what: string): CairnRun {
  if (run.code !== 0)
    throw new Error(`${what} exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}
