/**
 * `repo check [--read-data]`: is every snapshot restorable from what the
 * index says, does the index agree with the packs in storage, and (with
 * `--read-data`) does every blob of every pack decrypt to its id? Damage is
 * reported as data — pack, blob, and the snapshot files it affects — never
 * by stopping at the first problem.
 */
import { createHash } from 'node:crypto';
import { messageOf } from '../storage/body.ts';
import { repositoryError } from './errors.ts';
import { repositoryLayout } from './format.ts';
import { Limiter } from './limiter.ts';
import { headerOverhead, readPackHeader } from './pack.ts';
import type { IndexEntry, Repository } from './repository.ts';
import { listSnapshots, loadTree, type SnapshotRef, type TreeEntry } from './snapshot.ts';

export interface CheckProblem {
  /** error: data is lost or unreachable; warning: harmless leftovers (e.g. packs of an interrupted backup). */
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly pack?: string;
  readonly blobs?: readonly string[];
  /** `<snapshot id (8)>:<path>` of every file that needs a damaged or missing blob. */
  readonly affects?: readonly string[];
}

export interface CheckReport {
  readonly snapshots: number;
  readonly packs: number;
  readonly blobs: number;
  readonly readData: boolean;
  /** With a subset: which packs were read (`n/m` or `N%`) and how many. */
  readonly readDataSubset?: string;
  readonly packsRead: number;
  readonly bytesRead: number;
  /** What to do about the problems found, when there is a clear next step. */
  readonly hints: string[];
  readonly problems: CheckProblem[];
  readonly healthy: boolean;
}

/** Which packs a `--read-data-subset` reads: `n/m` (packs whose id falls in group n of m) or a fraction. */
export type DataSubset = { readonly n: number; readonly m: number } | { readonly fraction: number };

/**
 * Parses `--read-data-subset`: `n/m` (1 ≤ n ≤ m) or `N%`. Both select packs by
 * their id (the first 32 bits as a number), so the subset is deterministic:
 * `1/5` … `5/5` on five days read every pack once; `10%` reads the same tenth
 * every time (use `n/m` to rotate).
 */
export function parseDataSubset(text: string): DataSubset {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct !== null && Number(pct[1]) > 0 && Number(pct[1]) <= 100) return { fraction: Number(pct[1]) / 100 };
  const nm = /^(\d+)\/(\d+)$/.exec(text);
  if (nm !== null) {
    const n = Number(nm[1]);
    const m = Number(nm[2]);
    if (n >= 1 && n <= m) return { n, m };
  }
  throw repositoryError('REPOSITORY_TARGET_INVALID', `"${text}" is not a data subset`, {
    hint: 'Give `n/m` (e.g. `2/7`: the second of seven groups of packs) or a percentage (e.g. `10%`).',
  });
}

export function inSubset(pack: string, subset: DataSubset | undefined): boolean {
  if (subset === undefined) return true;
  const x = Number.parseInt(pack.slice(0, 8), 16);
  if ('fraction' in subset) return x / 2 ** 32 < subset.fraction;
  return x % subset.m === subset.n - 1;
}

export async function checkRepository(
  repo: Repository,
  options: { readData?: boolean; readDataSubset?: DataSubset } = {},
): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  await repo.loadIndex();
  for (const file of repo.unreadableIndexFiles) {
    problems.push({ severity: 'error', message: `index file ${file.key} is unreadable: ${file.problem}` });
  }
  const indexed = repo.packsInIndex();

  // Index ↔ packs in storage.
  const stored = new Map<string, number>();
  for await (const info of repo.store.list(repositoryLayout.dataPrefix())) {
    stored.set(info.key.slice(info.key.lastIndexOf('/') + 1), info.size);
  }
  for (const [pack, blobs] of indexed) {
    const size = stored.get(pack);
    const expected = blobs.reduce((n, b) => n + b.length, 0) + headerOverhead(blobs.length);
    if (size === undefined) {
      problems.push({
        severity: 'error',
        message: `pack ${pack} is in the index but missing from storage`,
        pack,
        blobs: blobs.map((b) => b.id),
      });
    } else if (size !== expected) {
      problems.push({
        severity: 'error',
        message: `pack ${pack} is ${size} bytes, the index describes ${expected}`,
        pack,
        blobs: blobs.map((b) => b.id),
      });
    }
  }
  for (const pack of stored.keys()) {
    if (!indexed.has(pack)) {
      problems.push({
        severity: 'warning',
        message: `pack ${pack} is in no index (left by an interrupted backup, or its index file was lost)`,
        pack,
      });
    }
  }

  // Read every pack when asked.
  let bytesRead = 0;
  let packsRead = 0;
  const subset = options.readDataSubset;
  if (options.readData || subset !== undefined) {
    const limiter = new Limiter(4);
    await Promise.all(
      [...indexed].map(([pack, blobs]) =>
        limiter.run(async () => {
          if (!stored.has(pack) || !inSubset(pack, subset)) return;
          packsRead++;
          const found = await readPack(repo, pack, blobs);
          bytesRead += found.bytes;
          problems.push(...found.problems);
        }),
      ),
    );
  }

  // Every snapshot's trees load and every blob they name is indexed.
  const { snapshots, unreadable } = await listSnapshots(repo);
  for (const file of unreadable) problems.push({ severity: 'error', message: file.problem });
  const damaged = new Set<string>();
  for (const p of problems) if (p.severity === 'error') for (const b of p.blobs ?? []) damaged.add(b);
  const affects = new Map<string, string[]>();
  const missing = new Map<string, string[]>();
  for (const ref of snapshots) {
    await checkSnapshot(repo, ref, damaged, affects, missing, problems);
  }
  for (const p of problems) {
    if (p.blobs === undefined) continue;
    const files = new Set<string>();
    for (const b of p.blobs) for (const f of affects.get(b) ?? []) files.add(f);
    (p as { affects?: string[] }).affects = [...files].sort();
  }
  for (const [blob, files] of missing) {
    problems.push({
      severity: 'error',
      message: `blob ${blob} is needed but in no index`,
      blobs: [blob],
      affects: files,
    });
  }
  const hints: string[] = [];
  const unindexed = [...stored.keys()].filter((p) => !indexed.has(p)).length;
  if (repo.unreadableIndexFiles.length > 0 || (missing.size > 0 && unindexed > 0)) {
    hints.push(
      `${missing.size > 0 ? `${missing.size} needed blobs are in no index` : 'index files are unreadable'}${unindexed > 0 ? ` and ${unindexed} packs are in no index` : ''}: an index file was lost or damaged. Run \`cairn repo repair index\` to rebuild the index from the pack headers.`,
    );
  }
  return {
    snapshots: snapshots.length,
    packs: indexed.size,
    blobs: repo.indexSize,
    readData: options.readData === true || subset !== undefined,
    ...(subset === undefined
      ? {}
      : { readDataSubset: 'fraction' in subset ? `${subset.fraction * 100}%` : `${subset.n}/${subset.m}` }),
    packsRead,
    bytesRead,
    hints,
    problems,
    healthy: !problems.some((p) => p.severity === 'error'),
  };
}

async function readPack(
  repo: Repository,
  pack: string,
  blobs: IndexEntry[],
): Promise<{ bytes: number; problems: CheckProblem[] }> {
  const problems: CheckProblem[] = [];
  let bytes: Buffer;
  try {
    bytes = await repo.store.get(repositoryLayout.pack(pack));
  } catch (err) {
    return {
      bytes: 0,
      problems: [
        {
          severity: 'error',
          message: `pack ${pack} cannot be read: ${messageOf(err)}`,
          pack,
          blobs: blobs.map((b) => b.id),
        },
      ],
    };
  }
  const hashOk = createHash('sha256').update(bytes).digest('hex') === pack;
  const header = readPackHeader(bytes, repo.encryptionKey);
  const bad: string[] = [];
  const reasons: string[] = [];
  for (const entry of blobs) {
    try {
      await repo.decodeBlob(entry, bytes.subarray(entry.offset, entry.offset + entry.length));
    } catch (err) {
      bad.push(entry.id);
      reasons.push(messageOf(err));
    }
  }
  if (bad.length > 0) {
    problems.push({
      severity: 'error',
      message: `pack ${pack}: ${bad.length} of ${blobs.length} blobs are damaged (${reasons[0]})`,
      pack,
      blobs: bad,
    });
  } else if (!hashOk) {
    problems.push({
      severity: 'error',
      message: `pack ${pack}: its content does not match its name although every blob decrypts (header or padding damaged)`,
      pack,
    });
  }
  if (header === undefined) {
    problems.push({
      severity: 'error',
      message: `pack ${pack}: its header is damaged (the index still describes it)`,
      pack,
    });
  } else {
    const byId = new Map(header.map((h) => [h.id, h]));
    const disagree = blobs.filter((b) => {
      const h = byId.get(b.id);
      return h === undefined || h.offset !== b.offset || h.length !== b.length || h.type !== b.type;
    });
    if (disagree.length > 0) {
      problems.push({
        severity: 'error',
        message: `pack ${pack}: the index and the pack header disagree on ${disagree.length} blobs`,
        pack,
      });
    }
  }
  return { bytes: bytes.length, problems };
}

async function checkSnapshot(
  repo: Repository,
  ref: SnapshotRef,
  damaged: Set<string>,
  affects: Map<string, string[]>,
  missing: Map<string, string[]>,
  problems: CheckProblem[],
): Promise<void> {
  const short = ref.id.slice(0, 8);
  const note = (map: Map<string, string[]>, blob: string, file: string) => {
    const list = map.get(blob);
    if (list === undefined) map.set(blob, [file]);
    else list.push(file);
  };
  const visit = async (treeId: string, base: string): Promise<void> => {
    if (!repo.has(treeId)) {
      note(missing, treeId, `${short}:${base === '' ? '.' : base}`);
      return;
    }
    if (damaged.has(treeId)) {
      note(affects, treeId, `${short}:${base === '' ? '.' : base}/`);
      return;
    }
    let entries: readonly TreeEntry[];
    try {
      entries = (await loadTree(repo, treeId)).entries;
    } catch (err) {
      problems.push({
        severity: 'error',
        message: `snapshot ${short}: tree of "${base === '' ? '.' : base}" cannot be read: ${messageOf(err)}`,
        blobs: [treeId],
      });
      return;
    }
    for (const entry of entries) {
      const p = base === '' ? entry.name : `${base}/${entry.name}`;
      if (entry.type === 'dir' && entry.subtree !== undefined) await visit(entry.subtree, p);
      for (const blob of entry.content ?? []) {
        if (!repo.has(blob)) note(missing, blob, `${short}:${p}`);
        else if (damaged.has(blob)) note(affects, blob, `${short}:${p}`);
      }
    }
  };
  await visit(ref.snapshot.tree, '');
}
