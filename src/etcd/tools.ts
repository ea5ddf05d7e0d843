/**
 * The etcd command-line tools Cairn uses where present: `etcdutl` (etcd ≥ 3.5)
 * or `etcdctl` (3.4, where `snapshot status/restore` still live), found on
 * PATH at run time.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '../errors/cairn-error.ts';

export interface SnapshotTool {
  readonly name: 'etcdutl' | 'etcdctl';
  readonly path: string;
}

async function onPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `etcdutl` when installed (etcd ≥ 3.5), else `etcdctl` (3.4), else undefined. */
export async function findSnapshotTool(): Promise<SnapshotTool | undefined> {
  const etcdutl = await onPath('etcdutl');
  if (etcdutl !== undefined) return { name: 'etcdutl', path: etcdutl };
  const etcdctl = await onPath('etcdctl');
  if (etcdctl !== undefined) return { name: 'etcdctl', path: etcdctl };
  return undefined;
}

/** Runs the tool (etcdctl with API v3) and resolves to stdout; rejects with stderr in the message. */
export function runTool(tool: SnapshotTool, args: readonly string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool.path,
      args,
      {
        env: { ...process.env, ETCDCTL_API: '3' },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else
          reject(
            new CairnError(
              'ETCD_TOOL_FAILED',
              `${tool.name} ${args.slice(0, 2).join(' ')} failed: ${(stderr || error.message).trim()}`,
              { hint: `Run the command by hand to see more: ${tool.path} ${args.join(' ')}`, cause: error },
            ),
          );
      },
    );
  });
}

export interface ToolSnapshotStatus {
  readonly hash: number;
  readonly revision: number;
  readonly totalKey: number;
  readonly totalSize: number;
}

/** `etcdctl|etcdutl snapshot status FILE -w json`. */
export async function toolSnapshotStatus(tool: SnapshotTool, file: string): Promise<ToolSnapshotStatus> {
  const out = await runTool(tool, ['snapshot', 'status', file, '-w', 'json'], 120_000);
  const parsed = JSON.parse(out) as Partial<ToolSnapshotStatus>;
  return {
    hash: Number(parsed.hash),
    revision: Number(parsed.revision),
    totalKey: Number(parsed.totalKey),
    totalSize: Number(parsed.totalSize),
  };
}
