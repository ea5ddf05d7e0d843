/**
 * `repo diff A B`: what changed between two snapshots. Both trees are walked
 * side by side, name by name; a subtree with the same blob id on both sides
 * is identical (trees are content-addressed) and is not descended into, so
 * the cost is proportional to what changed.
 */
import type { Repository } from './repository.ts';
import { loadTree, type TreeEntry } from './snapshot.ts';

/** `added`/`removed`: only in B / only in A; `modified`: content or type differs; `metadata`: mode, owner or mtime only. */
export type ChangeKind = 'added' | 'removed' | 'modified' | 'metadata';

export interface Change {
  readonly path: string;
  readonly change: ChangeKind;
  readonly type: TreeEntry['type'];
}

export interface DiffReport {
  readonly changes: Change[];
  readonly added: number;
  readonly removed: number;
  readonly modified: number;
  readonly metadata: number;
}

function sameContent(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'symlink') return a.target === b.target;
  if (a.type === 'file') {
    const ca = a.content ?? [];
    const cb = b.content ?? [];
    return a.size === b.size && ca.length === cb.length && ca.every((id, i) => id === cb[i]);
  }
  return true;
}

function sameMetadata(a: TreeEntry, b: TreeEntry): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs;
}

export async function diffSnapshots(repo: Repository, treeA: string, treeB: string): Promise<DiffReport> {
  const changes: Change[] = [];
  const all = async (treeId: string, base: string, change: 'added' | 'removed'): Promise<void> => {
    for (const e of (await loadTree(repo, treeId)).entries) {
      const p = `${base}${e.name}`;
      changes.push({ path: e.type === 'dir' ? `${p}/` : p, change, type: e.type });
      if (e.type === 'dir' && e.subtree !== undefined) await all(e.subtree, `${p}/`, change);
    }
  };
  const compare = async (a: string, b: string, base: string): Promise<void> => {
    if (a === b) return;
    const left = new Map((await loadTree(repo, a)).entries.map((e) => [e.name, e]));
    const right = (await loadTree(repo, b)).entries;
    const names = [...new Set([...left.keys(), ...right.map((e) => e.name)])].sort((x, y) =>
      Buffer.compare(Buffer.from(x), Buffer.from(y)),
    );
    const rightByName = new Map(right.map((e) => [e.name, e]));
    for (const name of names) {
      const ea = left.get(name);
      const eb = rightByName.get(name);
      const p = `${base}${name}`;
      if (ea === undefined && eb !== undefined) {
        changes.push({ path: eb.type === 'dir' ? `${p}/` : p, change: 'added', type: eb.type });
        if (eb.type === 'dir' && eb.subtree !== undefined) await all(eb.subtree, `${p}/`, 'added');
      } else if (eb === undefined && ea !== undefined) {
        changes.push({ path: ea.type === 'dir' ? `${p}/` : p, change: 'removed', type: ea.type });
        if (ea.type === 'dir' && ea.subtree !== undefined) await all(ea.subtree, `${p}/`, 'removed');
      } else if (ea !== undefined && eb !== undefined) {
        if (ea.type === 'dir' && eb.type === 'dir') {
          if (!sameMetadata(ea, eb)) changes.push({ path: `${p}/`, change: 'metadata', type: 'dir' });
          if (ea.subtree !== undefined && eb.subtree !== undefined)
            await compare(ea.subtree, eb.subtree, `${p}/`);
        } else if (!sameContent(ea, eb)) {
          if (ea.type !== eb.type) {
            changes.push({ path: p, change: 'removed', type: ea.type });
            if (ea.type === 'dir' && ea.subtree !== undefined) await all(ea.subtree, `${p}/`, 'removed');
            changes.push({ path: eb.type === 'dir' ? `${p}/` : p, change: 'added', type: eb.type });
            if (eb.type === 'dir' && eb.subtree !== undefined) await all(eb.subtree, `${p}/`, 'added');
          } else changes.push({ path: p, change: 'modified', type: eb.type });
        } else if (!sameMetadata(ea, eb)) changes.push({ path: p, change: 'metadata', type: eb.type });
      }
    }
  };
  await compare(treeA, treeB, '');
  const count = (k: ChangeKind) => changes.filter((c) => c.change === k).length;
  return {
    changes,
    added: count('added'),
    removed: count('removed'),
    modified: count('modified'),
    metadata: count('metadata'),
  };
}
