/**
 * Reconciles a BackupLocation: every sync period it opens the location with
 * fresh credentials, checks that it answers and that its control files (the
 * marker and its copy under `control/`) are healthy — re-read every time,
 * never cached — and sets Available/Unavailable with the reason. An empty
 * ReadWrite location is initialised (`initLocation` refuses whenever that
 * could hide data); a ReadOnly one is never written.
 *
 * Location sync (DR of Cairn itself): complete backups in the location with no
 * Backup resource appear as Backups labelled `cairn.dev/synced-from-location`,
 * phase and counts from their manifest — a fresh cluster pointed at an old
 * bucket sees every backup and can restore. Synced Backups whose data left
 * the location are removed (only those: a Backup made here keeps its resource).
 */
import type { Backup, BackupStatus } from '../api/backup.ts';
import type { BackupLocation, BackupLocationStatus } from '../api/backup-location.ts';
import { API_VERSION, LABELS } from '../api/common.ts';
import { validateBackupLocation } from '../api/validation.ts';
import { listBackups, readBackupManifest } from '../catalog/backup-manifest.ts';
import { layout } from '../catalog/layout.ts';
import { initLocation, readMarker } from '../catalog/location.ts';
import { FileSystemBlobStore } from '../storage/fs/fs-store.ts';
import { S3BlobStore } from '../storage/s3/s3-store.ts';
import { parseDuration } from '../util/duration.ts';
import { type ControllerContext, kubeTime, messageOf, note } from './context.ts';
import { type LocationAccess, openBackupLocation } from './location-access.ts';
import type { ReconcileResult } from './work-queue.ts';

interface CheckOutcome {
  readonly available: boolean;
  readonly message?: string;
  readonly controlFilesHealthy: boolean;
}

async function checkAccess(ctx: ControllerContext, access: LocationAccess): Promise<CheckOutcome> {
  const { store, backend } = access;
  if (backend instanceof S3BlobStore) await backend.checkBucket();
  // A ReadWrite folder that does not exist yet is made (as `cairn location init` does); a
  // ReadOnly one is reported missing.
  else if (!access.readOnly) await backend.ensureRoot();
  let marker = await readMarker(store);
  if (marker.state === 'missing' && !access.readOnly) {
    await initLocation(store, {
      createdBy: ctx.createdBy,
      now: () => ctx.clock.now(),
      ...(backend instanceof FileSystemBlobStore ? { prepareRoot: () => backend.ensureRoot() } : {}),
    });
    marker = await readMarker(store);
  }
  const copy = await readMarker(store, layout.markerCopy());
  if (marker.state !== 'ok') {
    return {
      available: false,
      controlFilesHealthy: false,
      message:
        marker.state === 'missing'
          ? `${layout.marker()} is missing (${access.readOnly ? 'ReadOnly location: not initialised by the controller' : 'not initialised'}); run \`cairn location check\``
          : marker.state === 'invalid'
            ? marker.problem
            : `the location has format ${marker.marker.formatVersion}, which this Cairn does not read`,
    };
  }
  const healthy = copy.state === 'ok' && copy.marker.locationId === marker.marker.locationId;
  return {
    available: true,
    controlFilesHealthy: healthy,
    ...(healthy
      ? {}
      : {
          message: `${layout.markerCopy()} is ${copy.state === 'ok' ? 'for another location' : copy.state}`,
        }),
  };
}

export async function reconcileLocation(ctx: ControllerContext, name: string): Promise<ReconcileResult> {
  const location = ctx.caches.locations.get(`${ctx.namespace}/${name}`);
  if (location === undefined) {
    ctx.metrics.locationAvailable.remove({ location: name });
    ctx.metrics.locationControlFilesHealthy.remove({ location: name });
    return undefined;
  }
  let periodMs = ctx.settings.defaultSyncPeriodMs;
  try {
    if (location.spec.syncPeriod !== undefined) periodMs = parseDuration(location.spec.syncPeriod);
  } catch {}
  const now = ctx.clock.now();
  const problems = validateBackupLocation(location);
  let outcome: CheckOutcome;
  let synced = false;
  if (problems.length > 0) {
    outcome = { available: false, controlFilesHealthy: false, message: `invalid: ${problems.join('; ')}` };
  } else {
    let access: LocationAccess | undefined;
    try {
      access = await openBackupLocation(location, ctx.resources);
      outcome = await checkAccess(ctx, access);
      if (outcome.available) {
        await syncBackups(ctx, location, access);
        synced = true;
      }
    } catch (err) {
      outcome = { available: false, controlFilesHealthy: false, message: messageOf(err) };
    } finally {
      await access?.close().catch(() => {});
    }
  }
  ctx.metrics.locationAvailable.set({ location: name }, outcome.available ? 1 : 0);
  ctx.metrics.locationControlFilesHealthy.set({ location: name }, outcome.controlFilesHealthy ? 1 : 0);
  const previous = location.status?.phase;
  const phase = outcome.available ? 'Available' : 'Unavailable';
  const status: BackupLocationStatus = {
    phase,
    lastCheckedTime: kubeTime(now),
    controlFilesHealthy: outcome.controlFilesHealthy,
    ...(synced ? { lastSyncedTime: kubeTime(ctx.clock.now()) } : {}),
    ...(location.metadata.generation === undefined
      ? {}
      : { observedGeneration: location.metadata.generation }),
  };
  // `message: null` removes a stale reason in a merge patch.
  await ctx.resources.patchStatus('backuplocations', name, { ...status, message: outcome.message ?? null });
  if (previous !== phase || (phase === 'Unavailable' && location.status?.message !== outcome.message)) {
    await note(
      ctx,
      location,
      outcome.available ? 'Normal' : 'Warning',
      phase,
      outcome.available
        ? `BackupLocation is available${outcome.message ? ` (${outcome.message})` : ''}`
        : `BackupLocation is unavailable: ${outcome.message ?? ''}`,
    );
  }
  return { requeueAfterMs: periodMs };
}

async function syncBackups(
  ctx: ControllerContext,
  location: BackupLocation,
  access: LocationAccess,
): Promise<void> {
  const locationName = location.metadata.name;
  const listing = await listBackups(access.store);
  const inLocation = new Set(listing.map((b) => b.name));
  const known = new Map(ctx.caches.backups.list().map((b) => [b.metadata.name, b]));
  for (const entry of listing) {
    if (!entry.complete || known.has(entry.name)) continue;
    // The order of these two reads is what keeps a backup that retention is deleting from coming
    // back: deletion removes the manifest first and the resource last, so "no resource (live),
    // THEN a manifest" can only be a backup nobody is deleting.
    if ((await ctx.resources.get('backups', entry.name)) !== undefined) continue;
    const m = await readBackupManifest(access.store, entry.name);
    if (m === undefined) continue;
    const backup: Backup = {
      apiVersion: API_VERSION,
      kind: 'Backup',
      metadata: {
        name: entry.name,
        namespace: ctx.namespace,
        labels: { [LABELS.syncedFromLocation]: locationName, [LABELS.location]: locationName },
      },
      spec: { ...m.spec, storageLocation: locationName },
    };
    const created = await ctx.resources.create<Backup>('backups', backup);
    if (created === undefined) continue; // made meanwhile (by a schedule, or another sync)
    const status: BackupStatus = {
      phase: m.status.phase,
      startTimestamp: kubeTime(new Date(m.status.startedAt)),
      completionTimestamp: kubeTime(new Date(m.status.completedAt)),
      itemsBackedUp: m.status.itemsBackedUp,
      errors: m.status.errors,
      warnings: m.status.warnings,
      storageLocation: locationName,
      progress: {
        typesTotal: m.status.resourceTypes,
        typesDone: m.status.resourceTypes,
        itemsBackedUp: m.status.itemsBackedUp,
      },
    };
    await ctx.resources.patchStatus('backups', entry.name, status);
    await note(
      ctx,
      created,
      'Normal',
      'BackupSynced',
      `Found in BackupLocation "${locationName}" (${m.status.phase}, completed ${m.status.completedAt})`,
    );
  }
  for (const backup of known.values()) {
    if (backup.metadata.labels?.[LABELS.syncedFromLocation] !== locationName) continue;
    if (inLocation.has(backup.metadata.name) || backup.metadata.deletionTimestamp !== undefined) continue;
    await ctx.resources.delete('backups', backup.metadata.name);
    ctx.log.info(
      { backup: backup.metadata.name, location: locationName },
      'synced backup left the location; resource removed',
    );
  }
}
