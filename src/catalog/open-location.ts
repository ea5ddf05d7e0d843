import { type LocationSpec, parseLocationUrl } from '../storage/location-url.ts';
import { type OpenedStore, type OpenStoreOptions, openStore } from '../storage/open-store.ts';
import { LayoutGuardedStore } from './layout-guard.ts';

/** An opened location: its parsed spec, the layout-guarded store, and the raw backend. */
export interface OpenedLocation extends OpenedStore {
  readonly spec: LocationSpec;
}

/**
 * Opens a location URL the way every Cairn command does: parsed, with retries,
 * read-only when asked, and guarded so only layout keys pass.
 */
export function openLocation(url: string, options: OpenStoreOptions = {}): OpenedLocation {
  const spec = parseLocationUrl(url);
  const opened = openStore(spec, options);
  return { spec, backend: opened.backend, store: new LayoutGuardedStore(opened.store) };
}
