/**
 * What a restore is asked to do (the CLI flags, later the Restore resource),
 * and the parsing of the flag values that have a grammar of their own.
 */
import { CairnError } from '../errors/cairn-error.ts';

/** What to do with an object that already exists and differs from the backup's. */
export type ExistingResourcePolicy = 'skip' | 'update' | 'recreate' | 'fail';

export const EXISTING_POLICIES: readonly ExistingResourcePolicy[] = ['skip', 'update', 'recreate', 'fail'];

export interface ExistingPolicySpec {
  /** For every type without an override (default `skip`). */
  readonly default: ExistingResourcePolicy;
  /** Per resource name as the user wrote it (`secrets`, `cm`, `users.iam.kubesphere.io`). */
  readonly perType: Readonly<Record<string, ExistingResourcePolicy>>;
}

export interface RestoreOptions {
  /** Namespace names or globs (`team-*`); empty means all. */
  readonly includeNamespaces: readonly string[];
  readonly excludeNamespaces: readonly string[];
  /** Resource names as kubectl accepts them; empty means all. */
  readonly includeResources: readonly string[];
  readonly excludeResources: readonly string[];
  /** kubectl label selector; empty means every object. */
  readonly labelSelector: string;
  readonly namespaceMapping: Readonly<Record<string, string>>;
  readonly storageClassMapping: Readonly<Record<string, string>>;
  readonly existingResourcePolicy: ExistingPolicySpec;
  /** Types whose `.status` is restored (`*` for all). */
  readonly restoreStatus: readonly string[];
  /** Change nothing; report the plan with diffs. */
  readonly dryRun: boolean;
  /** Parallel writes inside a tier (default 16), under the connection's QPS budget. */
  readonly concurrency?: number;
  /** How long to wait for a restored CRD to become Established (default 60 s). */
  readonly crdEstablishTimeoutMs?: number;
  /** How long to wait for a deleted object (recreate) or a terminating namespace to be gone (default 120 s). */
  readonly deleteTimeoutMs?: number;
}

export const DEFAULT_RESTORE_OPTIONS: RestoreOptions = {
  includeNamespaces: [],
  excludeNamespaces: [],
  includeResources: [],
  excludeResources: [],
  labelSelector: '',
  namespaceMapping: {},
  storageClassMapping: {},
  existingResourcePolicy: { default: 'skip', perType: {} },
  restoreStatus: [],
  dryRun: false,
};

function isPolicy(value: string): value is ExistingResourcePolicy {
  return (EXISTING_POLICIES as readonly string[]).includes(value);
}

/** `update` or `skip,secrets=update,configmaps=recreate`. */
export function parseExistingPolicy(text: string): ExistingPolicySpec {
  let fallback: ExistingResourcePolicy = 'skip';
  const perType: Record<string, ExistingResourcePolicy> = {};
  const bad = (what: string) =>
    new CairnError(
      'CLI_INVALID_POLICY',
      `invalid --existing-resource-policy ${JSON.stringify(text)}: ${what}`,
      {
        hint: `Use one of ${EXISTING_POLICIES.join(', ')}, optionally with per-type overrides: skip,secrets=update,configmaps=recreate.`,
      },
    );
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) {
      if (!isPolicy(part)) throw bad(`unknown policy "${part}"`);
      fallback = part;
      continue;
    }
    const type = part.slice(0, eq).trim();
    const policy = part.slice(eq + 1).trim();
    if (type === '') throw bad(`no type before "=" in "${part}"`);
    if (!isPolicy(policy)) throw bad(`unknown policy "${policy}" for ${type}`);
    perType[type] = policy;
  }
  return { default: fallback, perType };
}

/** `old:new,old2:new2` (the form of --namespace-mapping and --storage-class-mapping). */
export function parseNameMapping(flag: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const [from, to, ...rest] = part.split(':').map((s) => s.trim());
    if (!from || !to || rest.length > 0) {
      throw new CairnError('CLI_INVALID_MAPPING', `invalid ${flag} entry ${JSON.stringify(part)}`, {
        hint: `Write ${flag} old:new[,old2:new2].`,
      });
    }
    if (Object.hasOwn(out, from))
      throw new CairnError('CLI_INVALID_MAPPING', `${flag} maps "${from}" twice`, {
        hint: 'Give each source name one target.',
      });
    out[from] = to;
  }
  return out;
}

/** Namespace glob (`*` any run of characters) to a matcher. */
export function namespaceMatcher(patterns: readonly string[]): (ns: string) => boolean {
  const regexes = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split('*')
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ),
  );
  return (ns) => regexes.some((r) => r.test(ns));
}
