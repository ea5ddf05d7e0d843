/**
 * A sandbox API server in a child process of its own, so a benchmark measures
 * the client (Cairn, the bare LIST, kubectl, the controller) without the
 * server's memory and CPU in the same process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface SandboxProcess {
  readonly url: string;
  readonly kubeconfig: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Sandboxes not stopped yet, for a benchmark's clean-up on the way out. */
export const liveSandboxes = new Set<SandboxProcess>();

/** Starts `sandbox/main.ts start` on a free port, writing its kubeconfig; resolves once it listens. */
export async function startSandboxProcess(kubeconfig: string, timeoutMs = 30_000): Promise<SandboxProcess> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'sandbox', 'main.ts'), 'start', '--port', '0', '--kubeconfig', kubeconfig],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (!url) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    if (url) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sandbox did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const sb: SandboxProcess = {
    url,
    kubeconfig,
    child,
    async stop() {
      liveSandboxes.delete(sb);
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
  liveSandboxes.add(sb);
  return sb;
}
