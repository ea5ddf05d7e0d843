import type { ServerResponse } from 'node:http';
import { statusObject } from '../api-error.ts';
import type { ObjectFilter } from '../list-query.ts';
import type { StoredObject, StoreEvent, WatchEventType } from '../store/object-store.ts';

/** Unread bytes a watcher may accumulate before the server ends its watch. */
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;

/** What one watch request asks for. */
export interface WatchSpec {
  typeKey: string;
  namespace: string | undefined;
  filter: ObjectFilter;
  /** null/'' or '0': start with the current state as ADDED events. */
  resourceVersion: number | undefined;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
  bookmarkIntervalMs: number;
  /** Current objects, for watches that start with the current state. */
  initial: () => Iterable<StoredObject>;
  /** Renders a stored object for the event's `object` field. */
  render: (o: StoredObject) => string;
  /** Renders the object of a BOOKMARK event at a revision. */
  bookmark: (rv: number, initialEventsEnd: boolean) => string;
}

export interface WatchSource {
  readonly revision: number;
  readonly compactedRevision: number;
  eventsSince(rv: number): StoreEvent[] | 'expired';
  subscribe(listener: (e: StoreEvent) => void): () => void;
}

/**
 * Serves a watch as a chunked stream of newline-delimited JSON events. Headers
 * are flushed at once: client-node's informer waits for the response before it
 * considers the watch started. Returns a function that ends the watch (server stop).
 */
export function serveWatch(res: ServerResponse, source: WatchSource, spec: WatchSpec): () => void {
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();
  let ended = false;
  const timers: NodeJS.Timeout[] = [];
  const send = (type: WatchEventType | 'BOOKMARK' | 'ERROR', objectJson: string) => {
    if (ended) return;
    res.write(`{"type":"${type}","object":${objectJson}}\n`);
    // A watcher that does not read is cut off (as kube-apiserver does when its
    // buffer fills); the client re-lists or re-watches from its last revision.
    if (res.writableLength > MAX_UNREAD_BYTES) end();
  };
  const relevant = (e: StoreEvent) =>
    e.typeKey === spec.typeKey && (spec.namespace === undefined || e.namespace === spec.namespace);
  const deliver = (e: StoreEvent) => {
    if (!relevant(e)) return;
    if (spec.filter.everything) {
      send(e.type, spec.render(e.object));
      return;
    }
    const now = spec.filter.matches(e.object);
    if (e.type === 'MODIFIED') {
      const before = e.prev ? spec.filter.matches(e.prev) : false;
      if (now && before) send('MODIFIED', spec.render(e.object));
      else if (now) send('ADDED', spec.render(e.object));
      else if (before) send('DELETED', spec.render(e.object));
    } else if (now) {
      send(e.type, spec.render(e.object));
    }
  };
  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t); // clearTimeout also clears intervals
    res.end();
  };

  // Subscribing and replaying happen in one synchronous step: no write can slip between them.
  const unsubscribe = source.subscribe(deliver);
  if (spec.resourceVersion === undefined || spec.resourceVersion === 0) {
    for (const o of spec.initial()) {
      if (spec.filter.everything || spec.filter.matches(o)) send('ADDED', spec.render(o));
    }
    if (spec.sendInitialEvents && spec.allowBookmarks) send('BOOKMARK', spec.bookmark(source.revision, true));
  } else {
    const past = source.eventsSince(spec.resourceVersion);
    if (past === 'expired') {
      send(
        'ERROR',
        JSON.stringify(
          statusObject(
            'Failure',
            410,
            'Expired',
            `too old resource version: ${spec.resourceVersion} (${source.compactedRevision + 1})`,
          ),
        ),
      );
      end();
      return end;
    }
    for (const e of past) deliver(e);
  }

  if (spec.timeoutSeconds !== undefined && spec.timeoutSeconds > 0) {
    timers.push(setTimeout(end, spec.timeoutSeconds * 1000));
  }
  if (spec.allowBookmarks) {
    const ticker = setInterval(
      () => send('BOOKMARK', spec.bookmark(source.revision, false)),
      spec.bookmarkIntervalMs,
    );
    timers.push(ticker);
  }
  res.on('close', end);
  res.on('error', end);
  return end;
}
