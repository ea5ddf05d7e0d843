/**
 * What a restore reports: one result per object and a summary (counts per
 * type, phase). Partial failure is data (velero `pkg/util/results`): a failed
 * object is a result, only hard stops before anything was applied throw.
 * Stored under `restores/<name>/`: `results.ndjson.zst`, then `summary.json`
 * LAST (its presence means the record is complete, as a backup's manifest).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createZstdCompress, zstdDecompressSync } from 'node:zlib';
import { areaPrefix, layout } from '../catalog/layout.ts';
import { CairnError } from '../errors/cairn-error.ts';
import { isStorageFailure } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { RestoreOptions } from './options.ts';

/** What the plan says to do with an object. */
export type RestoreAction = 'create' | 'skip' | 'update' | 'recreate' | 'conflict';

/** What happened (`planned` in a dry run). */
export type RestoreOutcome = 'created' | 'updated' | 'recreated' | 'skipped' | 'failed' | 'planned';

export interface RestoreItemResult {
  /** Group-resource, e.g. `deployments.apps`. */
  readonly resource: string;
  /** Target namespace (after mapping); absent for cluster-scoped objects. */
  readonly namespace?: string;
  readonly name: string;
  readonly action: RestoreAction;
  readonly outcome: RestoreOutcome;
  readonly message?: string;
  /** Dry run only: YAML line diff, `-` live, `+` backup. */
  readonly diff?: readonly string[];
}

export type RestorePhase = 'Completed' | 'PartiallyFailed';

export interface OutcomeCounts {
  created: number;
  updated: number;
  recreated: number;
  skipped: number;
  failed: number;
  planned: number;
}

export const RESTORE_SUMMARY_FORMAT = 1;

export interface RestoreSummary {
  readonly apiVersion: 'cairn.dev/v1alpha1';
  readonly kind: 'RestoreSummary';
  readonly formatVersion: number;
  readonly name: string;
  readonly backup: string;
  readonly phase: RestorePhase;
  readonly dryRun: boolean;
  readonly cluster: { readonly server: string; readonly context: string };
  readonly startedAt: string;
  readonly completedAt: string;
  readonly durationMs: number;
  /** The options that shape what was restored (the run-time knobs such as concurrency are left out). */
  readonly options: Pick<
    RestoreOptions,
    | 'includeNamespaces'
    | 'excludeNamespaces'
    | 'includeResources'
    | 'excludeResources'
    | 'labelSelector'
    | 'namespaceMapping'
    | 'storageClassMapping'
    | 'existingResourcePolicy'
    | 'restoreStatus'
  >;
  readonly totals: OutcomeCounts;
  /** Counts per group-resource. */
  readonly perResource: Readonly<Record<string, OutcomeCounts>>;
  /** Objects of types never restored (events, nodes, …), per type. */
  readonly notRestored: Readonly<Record<string, number>>;
  /** Size and SHA-256 of the results file (absent when results were not stored). */
  readonly files?: Readonly<Record<string, { size: number; sha256: string }>>;
}

export const RESTORE_FILES = {
  results: 'results.ndjson.zst',
  summary: 'summary.json',
} as const;

export function emptyCounts(): OutcomeCounts {
  return { created: 0, updated: 0, recreated: 0, skipped: 0, failed: 0, planned: 0 };
}

/** Totals and per-type counts of a set of results. */
export function countOutcomes(items: readonly RestoreItemResult[]): {
  totals: OutcomeCounts;
  perResource: Record<string, OutcomeCounts>;
} {
  const totals = emptyCounts();
  const perResource: Record<string, OutcomeCounts> = {};
  for (const item of items) {
    totals[item.outcome]++;
    perResource[item.resource] ??= emptyCounts();
    (perResource[item.resource] as OutcomeCounts)[item.outcome]++;
  }
  return { totals, perResource };
}

/** One collator for every comparison (`localeCompare` looks its collator up on each call). */
const collator = new Intl.Collator();

/** Sort order of results: by type, namespace, name. */
export function compareResults(a: RestoreItemResult, b: RestoreItemResult): number {
  return (
    collator.compare(a.resource, b.resource) ||
    collator.compare(a.namespace ?? '', b.namespace ?? '') ||
    collator.compare(a.name, b.name)
  );
}

/** Whether a restore of this name was already recorded (its summary exists). */
export async function restoreExists(store: BlobStore, name: string): Promise<boolean> {
  return (await store.stat(`${layout.restorePrefix(name)}${RESTORE_FILES.summary}`)) !== undefined;
}

/** Writes the results, then the summary (last); returns the summary as stored. */
export async function saveRestoreRecord(
  store: BlobStore,
  summary: RestoreSummary,
  items: readonly RestoreItemResult[],
): Promise<RestoreSummary> {
  const prefix = layout.restorePrefix(summary.name);
  // Compressed 64 KiB of lines at a time: one string of every result (10 MB at 100k objects)
  // and a copy of each result without its diff were the restore's peak memory.
  const zstd = createZstdCompress();
  const pieces: Buffer[] = [];
  zstd.on('data', (chunk: Buffer) => pieces.push(chunk));
  const ended = once(zstd, 'end');
  let lines: string[] = [];
  let chars = 0;
  for (const item of items) {
    const line = `${JSON.stringify(item.diff === undefined ? item : { ...item, diff: undefined })}\n`;
    lines.push(line);
    chars += line.length;
    if (chars >= 64 * 1024) {
      const more = zstd.write(lines.join(''));
      lines = [];
      chars = 0;
      if (!more) await once(zstd, 'drain');
    }
  }
  zstd.end(lines.join(''));
  await ended;
  const compressed = Buffer.concat(pieces);
  await store.put(`${prefix}${RESTORE_FILES.results}`, compressed, {
    contentType: 'application/zstd',
  });
  const stored: RestoreSummary = {
    ...summary,
    files: {
      [RESTORE_FILES.results]: {
        size: compressed.length,
        sha256: createHash('sha256').update(compressed).digest('hex'),
      },
    },
  };
  await store.put(`${prefix}${RESTORE_FILES.summary}`, `${JSON.stringify(stored, null, 2)}\n`, {
    contentType: 'application/json',
  });
  return stored;
}

function notFound(name: string, store: BlobStore): CairnError {
  return new CairnError('RESTORE_NOT_FOUND', `restore "${name}" is not recorded in ${store.description}`, {
    hint: 'Check the name and --location; a dry run or a restore with --read-only records nothing.',
  });
}

/** Every recorded restore (one with a summary), oldest first; folders without a summary are skipped. */
export async function listRestores(store: BlobStore): Promise<RestoreSummary[]> {
  const names: string[] = [];
  for await (const info of store.list(areaPrefix('restores'))) {
    const match = /^restores\/([^/]+)\/summary\.json$/.exec(info.key);
    if (match?.[1] !== undefined) names.push(match[1]);
  }
  const out: RestoreSummary[] = [];
  for (const name of names) out.push((await readRestoreRecord(store, name)).summary);
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name));
}

/** Reads a restore's summary (and, when asked, its results, checked against the summary's SHA-256). */
export async function readRestoreRecord(
  store: BlobStore,
  name: string,
  options: { items?: boolean } = {},
): Promise<{ summary: RestoreSummary; items?: RestoreItemResult[] }> {
  const prefix = layout.restorePrefix(name);
  let summary: RestoreSummary;
  try {
    summary = JSON.parse((await store.get(`${prefix}${RESTORE_FILES.summary}`)).toString('utf8'));
  } catch (err) {
    if (isStorageFailure(err, 'not-found')) throw notFound(name, store);
    if (err instanceof SyntaxError)
      throw new CairnError(
        'RESTORE_RECORD_INVALID',
        `the summary of restore "${name}" is not valid JSON`,
        {},
      );
    throw err;
  }
  if (summary.kind !== 'RestoreSummary' || summary.name !== name)
    throw new CairnError(
      'RESTORE_RECORD_INVALID',
      `restores/${name}/summary.json is not a restore summary`,
      {},
    );
  if (!options.items) return { summary };
  const bytes = await store.get(`${prefix}${RESTORE_FILES.results}`);
  const expected = summary.files?.[RESTORE_FILES.results];
  if (expected !== undefined && createHash('sha256').update(bytes).digest('hex') !== expected.sha256) {
    throw new CairnError(
      'RESTORE_RECORD_INVALID',
      `the results of restore "${name}" do not match the SHA-256 in its summary`,
      {},
    );
  }
  const items = zstdDecompressSync(bytes)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as RestoreItemResult);
  return { summary, items };
}
