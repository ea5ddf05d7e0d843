/**
 * Storage locations as Cairn sees them: the marker that makes a folder or
 * bucket prefix a Cairn location, the safe `init`, the `check` that tells an
 * operator exactly what is wrong, and the survey behind `location info`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { CairnError } from '../errors/cairn-error.ts';
import { StorageError } from '../errors/storage-error.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { messageOf } from '../storage/body.ts';
import type { FileSystemBlobStore } from '../storage/fs/fs-store.ts';
import { S3BlobStore } from '../storage/s3/s3-store.ts';
import { readControlJson } from './control-file.ts';
import {
  AREAS,
  type Area,
  backupNameOfManifest,
  LOCATION_FORMAT_VERSION,
  layout,
  placeOfKey,
} from './layout.ts';

/** Contents of `cairn-location.json` (and its copy `control/location.json`). */
export interface LocationMarker {
  readonly kind: 'CairnLocation';
  readonly formatVersion: number;
  readonly locationId: string;
  readonly createdAt: string;
  readonly createdBy: string;
}

export type MarkerState =
  | { readonly state: 'missing' }
  | { readonly state: 'ok'; readonly marker: LocationMarker }
  | { readonly state: 'invalid'; readonly problem: string }
  | { readonly state: 'unsupported'; readonly marker: LocationMarker };

/** Reads and validates a marker object (the main one, or its control copy). Always reads fresh. */
export async function readMarker(store: BlobStore, key: string = layout.marker()): Promise<MarkerState> {
  const read = await readControlJson(store, key);
  if (read.state !== 'parsed') return read;
  const parsed = read.value;
  const m = parsed as Partial<LocationMarker> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    m.kind !== 'CairnLocation' ||
    typeof m.formatVersion !== 'number' ||
    typeof m.locationId !== 'string'
  ) {
    return { state: 'invalid', problem: `${key} is not a Cairn location marker` };
  }
  const marker = m as LocationMarker;
  return marker.formatVersion === LOCATION_FORMAT_VERSION
    ? { state: 'ok', marker }
    : { state: 'unsupported', marker };
}

export interface BackupSighting {
  readonly name: string;
  readonly completedAt: string;
}

/** What a scan of a location found. */
export interface LocationSurvey {
  readonly objects: number;
  readonly bytes: number;
  readonly areas: Record<Area, { objects: number; bytes: number }>;
  readonly hasMarker: boolean;
  /** Up to 5 keys outside the layout. */
  readonly foreignSamples: string[];
  readonly foreignObjects: number;
  /** Backups with a manifest (complete), newest first. */
  readonly completeBackups: number;
  readonly newestBackup: BackupSighting | undefined;
  /** Backup folders without a manifest: still running, or abandoned. */
  readonly incompleteBackups: string[];
  /** True when the scan stopped at its limit. */
  readonly truncated: boolean;
}

/** Scans a location (up to `limit` objects) and summarises what lies where. */
export async function surveyLocation(store: BlobStore, limit = 1_000_000): Promise<LocationSurvey> {
  const areas = Object.fromEntries(AREAS.map((a) => [a, { objects: 0, bytes: 0 }])) as Record<
    Area,
    { objects: number; bytes: number }
  >;
  const foreignSamples: string[] = [];
  const backupFolders = new Set<string>();
  const manifests = new Map<string, Date>();
  let objects = 0;
  let bytes = 0;
  let foreignObjects = 0;
  let hasMarker = false;
  let truncated = false;
  for await (const info of store.list('')) {
    if (objects >= limit) {
      truncated = true;
      break;
    }
    objects++;
    bytes += info.size;
    const place = placeOfKey(info.key);
    if (place.kind === 'marker') hasMarker = true;
    else if (place.kind === 'foreign') {
      foreignObjects++;
      if (foreignSamples.length < 5) foreignSamples.push(info.key);
    } else {
      areas[place.area].objects++;
      areas[place.area].bytes += info.size;
      if (place.area === 'backups') {
        const name = info.key.split('/')[1];
        if (name !== undefined) backupFolders.add(name);
        const manifestOf = backupNameOfManifest(info.key);
        if (manifestOf !== undefined) manifests.set(manifestOf, info.modified);
      }
    }
  }
  let newestBackup: BackupSighting | undefined;
  for (const [name, at] of manifests) {
    if (newestBackup === undefined || at.toISOString() > newestBackup.completedAt) {
      newestBackup = { name, completedAt: at.toISOString() };
    }
  }
  return {
    objects,
    bytes,
    areas,
    hasMarker,
    foreignSamples,
    foreignObjects,
    completeBackups: manifests.size,
    newestBackup,
    incompleteBackups: [...backupFolders].filter((b) => !manifests.has(b)).sort(),
    truncated,
  };
}

/** "3 h ago" style age for messages. */
export function describeAge(iso: string, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
}

function cairnDataSummary(survey: LocationSurvey, now: Date): string {
  const cairnObjects = survey.objects - survey.foreignObjects - (survey.hasMarker ? 1 : 0);
  const newest = survey.newestBackup;
  const parts = [`${cairnObjects} Cairn objects`, `${survey.completeBackups} complete backups`];
  if (newest !== undefined) {
    parts.push(
      `newest "${newest.name}" completed ${newest.completedAt} (${describeAge(newest.completedAt, now)})`,
    );
  }
  return parts.join(', ');
}

export interface InitOptions {
  /** Write the marker again over Cairn data whose marker was lost. */
  readonly adopt?: boolean;
  readonly now?: () => Date;
  /** Recorded in the marker, e.g. `cairn 0.1.0`. */
  readonly createdBy?: string;
  /** Creates the root before anything is read (the filesystem backend's folder); nothing for buckets. */
  readonly prepareRoot?: () => Promise<void>;
}

export interface InitOutcome {
  readonly status: 'initialized' | 'already-initialized' | 'adopted';
  readonly marker: LocationMarker;
  /** Repairs made on the way, e.g. a missing control copy of the marker rewritten. */
  readonly repaired: string[];
}

/**
 * Makes a location a Cairn location, refusing whenever that could hide or
 * damage data (the etcd-manager lesson):
 *
 * - already a Cairn location of this format: nothing to do (a missing control
 *   copy of the marker is restored);
 * - a marker of another format version, or an unreadable marker: refused;
 * - objects outside Cairn's layout: refused, never adoptable;
 * - Cairn data but no marker (a lifecycle rule or a hand deleted it): refused
 *   with the newest backup and its age, unless `adopt` — which writes the
 *   marker again, keeping the location id from the control copy if it survived;
 * - empty: the marker copy under `control/` is written first, then the marker.
 *
 * Refusals write nothing.
 */
export async function initLocation(store: BlobStore, options: InitOptions = {}): Promise<InitOutcome> {
  const now = options.now ?? (() => new Date());
  await options.prepareRoot?.();
  const current = await readMarker(store);
  const copy = await readMarker(store, layout.markerCopy());
  if (current.state === 'ok') {
    const repaired: string[] = [];
    if (copy.state !== 'ok' || copy.marker.locationId !== current.marker.locationId) {
      await putJson(store, layout.markerCopy(), current.marker);
      repaired.push(`rewrote ${layout.markerCopy()} from ${layout.marker()}`);
    }
    return { status: 'already-initialized', marker: current.marker, repaired };
  }
  if (current.state === 'unsupported') {
    throw new CairnError(
      'LOCATION_FORMAT_UNSUPPORTED',
      `${store.description} is a Cairn location of format version ${current.marker.formatVersion}; this Cairn understands version ${LOCATION_FORMAT_VERSION}`,
      {
        hint: 'Use the Cairn release that wrote this location, or a new empty location. Nothing was written.',
      },
    );
  }
  if (current.state === 'invalid') {
    throw new CairnError('LOCATION_MARKER_INVALID', `${store.description}: ${current.problem}`, {
      hint: `Inspect ${layout.marker()} by hand; Cairn will not overwrite it. Nothing was written.`,
    });
  }

  const survey = await surveyLocation(store);
  if (survey.foreignObjects > 0) {
    throw new CairnError(
      'LOCATION_NOT_EMPTY',
      `${store.description} is not empty and is not a Cairn location: it holds ${survey.foreignObjects}${survey.truncated ? '+' : ''} objects outside Cairn's layout, such as ${survey.foreignSamples.map((k) => JSON.stringify(k)).join(', ')}`,
      {
        hint: 'Use an empty folder or bucket, or a prefix of its own (for example s3://bucket/cairn/). Nothing was written.',
      },
    );
  }
  if (survey.objects > 0) {
    if (!options.adopt) {
      throw new CairnError(
        'LOCATION_MARKER_MISSING',
        `${store.description} holds Cairn data (${cairnDataSummary(survey, now())}) but its marker ${layout.marker()} is missing`,
        {
          hint: `Something deleted the marker (a bucket lifecycle rule, a manual cleanup). Nothing was written. If this is the right location, run \`cairn location init --adopt\` to write the marker again${copy.state === 'ok' ? ` (keeping id ${copy.marker.locationId} from ${layout.markerCopy()})` : ''}.`,
        },
      );
    }
    const marker = copy.state === 'ok' ? copy.marker : newMarker(now(), options.createdBy);
    if (copy.state !== 'ok') await putJson(store, layout.markerCopy(), marker);
    await putJson(store, layout.marker(), marker);
    return {
      status: 'adopted',
      marker,
      repaired: [
        `wrote ${layout.marker()}${copy.state === 'ok' ? ` from ${layout.markerCopy()}` : ' with a new id'}`,
      ],
    };
  }

  const marker = newMarker(now(), options.createdBy);
  // The copy first: a crash between the two leaves a location that `init` completes on the next run.
  await putJson(store, layout.markerCopy(), marker);
  await putJson(store, layout.marker(), marker);
  return { status: 'initialized', marker, repaired: [] };
}

function newMarker(at: Date, createdBy = 'cairn'): LocationMarker {
  return {
    kind: 'CairnLocation',
    formatVersion: LOCATION_FORMAT_VERSION,
    locationId: randomUUID(),
    createdAt: at.toISOString(),
    createdBy,
  };
}

async function putJson(store: BlobStore, key: string, value: unknown): Promise<void> {
  await store.put(key, `${JSON.stringify(value, null, 2)}\n`, { contentType: 'application/json' });
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Short, stable name: reach, list, layout, marker, write, control. */
  readonly check: string;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly code?: string;
  readonly hint?: string;
}

export interface CheckReport {
  readonly location: string;
  readonly healthy: boolean;
  readonly results: CheckResult[];
  readonly marker?: LocationMarker;
}

function failed(check: string, err: unknown, prefix: string): CheckResult {
  const code = err instanceof CairnError ? err.code : 'UNEXPECTED';
  const hint = err instanceof CairnError ? err.hint : undefined;
  return {
    check,
    status: 'fail',
    detail: `${prefix}: ${messageOf(err)}`,
    code,
    ...(hint === undefined ? {} : { hint }),
  };
}

/**
 * Verifies, one line per concern, that a location can be used: the endpoint
 * and bucket answer and accept the credentials, listing works, the layout
 * holds nothing foreign, the marker (and its control copy) are healthy, a
 * probe object can be written, read back, listed and deleted (skipped when
 * read-only), and every control file parses. Later checks that depend on a
 * failed one are reported as skipped, never silently passed.
 */
export async function checkLocation(
  store: BlobStore,
  backend: BlobStore,
  options: { readOnly?: boolean; now?: () => Date } = {},
): Promise<CheckReport> {
  const now = options.now ?? (() => new Date());
  const results: CheckResult[] = [];
  const finish = (marker?: LocationMarker): CheckReport => ({
    location: store.description,
    healthy: results.every((r) => r.status !== 'fail'),
    results,
    ...(marker === undefined ? {} : { marker }),
  });
  const skipRest = (after: string) => {
    for (const check of ['reach', 'list', 'layout', 'marker', 'write', 'control']) {
      if (!results.some((r) => r.check === check)) {
        results.push({ check, status: 'skip', detail: `not checked: ${after} failed` });
      }
    }
  };

  try {
    if (backend instanceof S3BlobStore) {
      await backend.checkBucket();
      results.push({
        check: 'reach',
        status: 'ok',
        detail: `bucket "${backend.config.bucket}" answered${backend.config.endpoint ? ` at ${backend.config.endpoint}` : ''} and accepted the credentials`,
      });
    } else {
      await backend.stat(layout.marker());
      results.push({
        check: 'reach',
        status: 'ok',
        detail: `folder ${(backend as FileSystemBlobStore).root} exists`,
      });
    }
  } catch (err) {
    results.push(failed('reach', err, 'cannot reach the location'));
    skipRest('reach');
    return finish();
  }

  let survey: LocationSurvey;
  try {
    survey = await surveyLocation(store, 200_000);
    results.push({
      check: 'list',
      status: 'ok',
      detail: `listed ${survey.objects}${survey.truncated ? '+' : ''} objects, ${survey.bytes} bytes`,
    });
  } catch (err) {
    results.push(failed('list', err, 'cannot list the location'));
    skipRest('list');
    return finish();
  }

  if (survey.foreignObjects > 0) {
    results.push({
      check: 'layout',
      status: 'fail',
      code: 'LOCATION_UNKNOWN_PREFIX',
      detail: `${survey.foreignObjects} objects outside Cairn's layout, such as ${survey.foreignSamples.map((k) => JSON.stringify(k)).join(', ')}`,
      hint: 'A location holds only Cairn data. Move other data elsewhere, or give Cairn a prefix of its own.',
    });
  } else {
    const incomplete = survey.incompleteBackups;
    results.push({
      check: 'layout',
      status: incomplete.length > 0 ? 'warn' : 'ok',
      detail:
        `${survey.completeBackups} complete backups` +
        (survey.newestBackup
          ? `, newest "${survey.newestBackup.name}" (${describeAge(survey.newestBackup.completedAt, now())})`
          : '') +
        (incomplete.length > 0
          ? `; ${incomplete.length} without a manifest (incomplete): ${incomplete.slice(0, 5).join(', ')}`
          : ''),
    });
  }

  let marker: LocationMarker | undefined;
  try {
    const state = await readMarker(store);
    const copy = await readMarker(store, layout.markerCopy());
    if (state.state === 'ok') {
      marker = state.marker;
      const copyProblem =
        copy.state !== 'ok'
          ? `${layout.markerCopy()} is ${copy.state}`
          : copy.marker.locationId !== state.marker.locationId
            ? `${layout.markerCopy()} names another location id (${copy.marker.locationId})`
            : undefined;
      results.push({
        check: 'marker',
        status: copyProblem === undefined ? 'ok' : 'warn',
        detail: `format ${state.marker.formatVersion}, id ${state.marker.locationId}, created ${state.marker.createdAt}${copyProblem ? `; ${copyProblem}` : ''}`,
        ...(copyProblem === undefined
          ? {}
          : { hint: 'Run `cairn location init` to rewrite the control copy.' }),
      });
    } else if (state.state === 'missing') {
      const empty = survey.objects === 0;
      results.push({
        check: 'marker',
        status: 'fail',
        code: empty ? 'LOCATION_NOT_INITIALIZED' : 'LOCATION_MARKER_MISSING',
        detail: empty
          ? `${layout.marker()} is missing: the location is empty and not initialised`
          : `${layout.marker()} is missing but the location holds Cairn data (${cairnDataSummary(survey, now())})`,
        hint: empty
          ? 'Run `cairn location init` first.'
          : 'Something deleted the marker (a lifecycle rule?). If this is the right location, run `cairn location init --adopt`.',
      });
    } else if (state.state === 'unsupported') {
      results.push({
        check: 'marker',
        status: 'fail',
        code: 'LOCATION_FORMAT_UNSUPPORTED',
        detail: `format version ${state.marker.formatVersion}; this Cairn understands ${LOCATION_FORMAT_VERSION}`,
        hint: 'Use the Cairn release that wrote this location.',
      });
    } else {
      results.push({
        check: 'marker',
        status: 'fail',
        code: 'LOCATION_MARKER_INVALID',
        detail: state.problem,
        hint: 'Inspect the marker by hand.',
      });
    }
  } catch (err) {
    results.push(failed('marker', err, 'cannot read the marker'));
  }

  if (options.readOnly) {
    results.push({ check: 'write', status: 'skip', detail: 'opened read-only: writes are not attempted' });
  } else {
    results.push(await probeWrite(store));
  }

  results.push(await checkControlFiles(store));
  return finish(marker);
}

/** Put, stat, get, list and delete one probe object, checking read-after-write at each step. */
async function probeWrite(store: BlobStore): Promise<CheckResult> {
  const key = layout.probe(`${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`);
  const data = randomBytes(4096);
  let step = 'put';
  try {
    await store.put(key, data);
    step = 'stat';
    if ((await store.stat(key))?.size !== data.length)
      throw new Error('the object was not visible after the put');
    step = 'get';
    if (!(await store.get(key)).equals(data))
      throw new Error('the object read back differs from what was written');
    step = 'list';
    let listed = false;
    for await (const info of store.list(layout.probesPrefix())) if (info.key === key) listed = true;
    if (!listed) throw new Error('the object was missing from the listing right after the put');
    step = 'delete';
    await store.delete(key);
    if ((await store.stat(key)) !== undefined)
      throw new Error('the object was still visible after the delete');
    return {
      check: 'write',
      status: 'ok',
      detail: `put, stat, get, list and delete of ${key} verified (read-after-write)`,
    };
  } catch (err) {
    const result = failed('write', err, `${step} of probe ${key} failed`);
    if (err instanceof StorageError && err.failure === 'access-denied') {
      return {
        ...result,
        hint: 'The credentials may read but not write or delete here. Grant s3:PutObject and s3:DeleteObject on the prefix, or use --read-only.',
      };
    }
    return result;
  }
}

async function checkControlFiles(store: BlobStore): Promise<CheckResult> {
  let healthy = 0;
  try {
    for await (const info of store.list(layout.controlPrefix())) {
      if (info.key.startsWith(layout.probesPrefix()) || !info.key.endsWith('.json')) continue;
      const read = await readControlJson(store, info.key);
      if (read.state === 'invalid') {
        return {
          check: 'control',
          status: 'fail',
          code: 'CONTROL_FILE_CORRUPT',
          detail: read.problem,
          hint: 'Restore the control file from a copy or a versioned bucket; do not re-initialise over it.',
        };
      }
      if (read.state === 'parsed') healthy++;
    }
  } catch (err) {
    return failed('control', err, 'cannot read the control files');
  }
  return { check: 'control', status: 'ok', detail: `${healthy} control files parse` };
}
