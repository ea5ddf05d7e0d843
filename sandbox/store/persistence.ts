import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

type Json = Record<string, unknown>;

/** One write as persisted: the object after the write, or null when it was removed. */
export interface PersistedRecord {
  typeKey: string;
  id: string;
  rv: number;
  obj: Json | null;
}

/** Where an ObjectStore keeps its objects between runs. */
export interface Persistence {
  /** Every record written since the last compaction, oldest first. */
  load(): Iterable<PersistedRecord>;
  /** Replaces the log by the given live objects (called once after load). */
  compact(live: Iterable<PersistedRecord>): void;
  append(rec: PersistedRecord): void;
  close(): Promise<void>;
}

/**
 * Append-only newline-delimited JSON log in `<dir>/objects.ndjson`. Writes are
 * batched and flushed on the next turn of the event loop (and on close), so a
 * burst of creates costs one write system call, not one each. On start the log
 * is replayed and rewritten with only the live objects (temp file + rename).
 */
export class DiskPersistence implements Persistence {
  #file: string;
  #fd: number | undefined;
  #pending: string[] = [];
  #scheduled = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#file = join(dir, 'objects.ndjson');
  }

  *load(): Iterable<PersistedRecord> {
    if (!existsSync(this.#file)) return;
    const text = readFileSync(this.#file, 'utf8');
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      if (line.trim() === '') continue;
      try {
        yield JSON.parse(line) as PersistedRecord;
      } catch {
        // A torn last line from a crash mid-write: everything before it is intact.
      }
    }
  }

  compact(live: Iterable<PersistedRecord>): void {
    const tmp = `${this.#file}.tmp`;
    const fd = openSync(tmp, 'w');
    let chunk: string[] = [];
    for (const rec of live) {
      chunk.push(JSON.stringify(rec));
      if (chunk.length >= 1000) {
        writeSync(fd, `${chunk.join('\n')}\n`);
        chunk = [];
      }
    }
    if (chunk.length) writeSync(fd, `${chunk.join('\n')}\n`);
    closeSync(fd);
    renameSync(tmp, this.#file);
    this.#fd = openSync(this.#file, 'a');
  }

  append(rec: PersistedRecord): void {
    this.#pending.push(JSON.stringify(rec));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  async close(): Promise<void> {
    this.#flush();
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 || this.#fd === undefined) return;
    const text = `${this.#pending.join('\n')}\n`;
    this.#pending = [];
    writeSync(this.#fd, text);
  }
}
