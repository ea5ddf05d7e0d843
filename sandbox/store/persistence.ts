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

/** One write as handed to the persistence: the object's JSON after the write, or null when removed. */
export interface AppendRecord {
  typeKey: string;
  id: string;
  rv: number;
  json: string | null;
}

/** The persisted form of an {@link AppendRecord} (one line of the disk log). */
export function recordLine(rec: AppendRecord): string {
  return `{"typeKey":${JSON.stringify(rec.typeKey)},"id":${JSON.stringify(rec.id)},"rv":${rec.rv},"obj":${rec.json ?? 'null'}}`;
}

/**
 * Where an ObjectStore keeps its objects between runs. The store stays the
 * serving copy (reads never touch the persistence); every write is appended in
 * revision order and `flush()` tells when it is durable.
 */
export interface Persistence {
  /** The persisted records (replayed in order) and the revision to continue from. */
  load(): Promise<{ records: Iterable<PersistedRecord>; revision: number }>;
  /** Called after load with the live objects (a chance to compact). */
  loaded(live: Iterable<AppendRecord>): Promise<void>;
  append(rec: AppendRecord): void;
  /** Resolves when every appended record is durable; rejects if one failed. */
  flush(): Promise<void>;
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
  #flushed: Promise<void> | undefined;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#file = join(dir, 'objects.ndjson');
  }

  async load(): Promise<{ records: Iterable<PersistedRecord>; revision: number }> {
    const records: PersistedRecord[] = [];
    let revision = 0;
    if (existsSync(this.#file)) {
      const text = readFileSync(this.#file, 'utf8');
      let start = 0;
      while (start < text.length) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        const line = text.slice(start, end);
        start = end + 1;
        if (line.trim() === '') continue;
        try {
          const rec = JSON.parse(line) as PersistedRecord;
          records.push(rec);
          if (rec.rv > revision) revision = rec.rv;
        } catch {
          // A torn last line from a crash mid-write: everything before it is intact.
        }
      }
    }
    return { records, revision };
  }

  async loaded(live: Iterable<AppendRecord>): Promise<void> {
    const tmp = `${this.#file}.tmp`;
    const fd = openSync(tmp, 'w');
    let chunk: string[] = [];
    for (const rec of live) {
      chunk.push(recordLine(rec));
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

  append(rec: AppendRecord): void {
    this.#pending.push(recordLine(rec));
    this.#flushed ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        try {
          this.#write();
          resolve();
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  flush(): Promise<void> {
    return this.#flushed ?? Promise.resolve();
  }

  async close(): Promise<void> {
    await this.flush().catch(() => {});
    this.#write();
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #write(): void {
    this.#flushed = undefined;
    if (this.#pending.length === 0 || this.#fd === undefined) return;
    const text = `${this.#pending.join('\n')}\n`;
    this.#pending = [];
    writeSync(this.#fd, text);
  }
}
