/**
 * The repository's on-storage format: version numbers, parameters and where
 * each file kind lives. `docs/repository-format.md` is the prose version of
 * this module; change both together.
 */
import { layout } from '../catalog/layout.ts';
import { CairnError } from '../errors/cairn-error.ts';

/** Version of the repository format as a whole (config `version`). Another version is refused, never guessed at. */
export const REPOSITORY_FORMAT_VERSION = 1;

/** Content-defined chunking parameters, stored in the config (sizes in bytes). */
export interface ChunkerParams {
  /** `fastcdc-gear32-v1`: FastCDC with normalised chunking (level 2) over a keyed 32-bit gear table. */
  readonly algorithm: 'fastcdc-gear32-v1';
  readonly minSize: number;
  /** A power of two: the masks are built from its bit count. */
  readonly avgSize: number;
  readonly maxSize: number;
}

export interface CompressionParams {
  readonly algorithm: 'zstd';
  readonly level: number;
}

/** `control/repository/config.json`: plaintext, written once by `repo init`. */
export interface RepositoryConfig {
  readonly kind: 'CairnRepository';
  readonly version: number;
  /** 32 hex characters, random; bound into every key file as associated data. */
  readonly id: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly chunker: ChunkerParams;
  readonly compression: CompressionParams;
  /** Target size of a pack file in bytes; a pack is flushed once it reaches it. */
  readonly packSize: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Defaults for new repositories (see the format doc for why these sizes). */
export const DEFAULT_CHUNKER: ChunkerParams = {
  algorithm: 'fastcdc-gear32-v1',
  minSize: 512 * KiB,
  avgSize: 1 * MiB,
  maxSize: 8 * MiB,
};
export const DEFAULT_COMPRESSION: CompressionParams = { algorithm: 'zstd', level: 1 };
export const DEFAULT_PACK_SIZE = 16 * MiB;

/** Checks chunker parameters (from a config or a test) before they are used. */
export function assertChunkerParams(p: ChunkerParams): void {
  const ok =
    p.algorithm === 'fastcdc-gear32-v1' &&
    Number.isInteger(p.minSize) &&
    Number.isInteger(p.avgSize) &&
    Number.isInteger(p.maxSize) &&
    p.minSize >= 64 &&
    p.minSize < p.avgSize &&
    p.avgSize < p.maxSize &&
    (p.avgSize & (p.avgSize - 1)) === 0 &&
    p.avgSize <= 2 ** 28 &&
    p.maxSize <= 64 * MiB;
  if (!ok) {
    throw new CairnError('REPOSITORY_CONFIG_INVALID', `unsupported chunker parameters ${JSON.stringify(p)}`, {
      hint: 'The repository config was written by another Cairn version or edited by hand; use the Cairn release that created it.',
    });
  }
}

/** Keys of the repository's files, built from the location layout (`src/catalog/layout.ts`). */
export const repositoryLayout = {
  config: (): string => layout.repositoryConfig(),
  keysPrefix: (): string => 'control/repository/keys/',
  key: (id: string): string => `control/repository/keys/${assertHexId(id)}.json`,
  locksPrefix: (): string => 'control/repository/locks/',
  lock: (id: string): string => `control/repository/locks/${assertHexId(id)}.json`,
  dataPrefix: (): string => `${layout.repositoryPrefix()}data/`,
  pack: (id: string): string => `${layout.repositoryPrefix()}data/${assertHexId(id).slice(0, 2)}/${id}`,
  indexPrefix: (): string => `${layout.repositoryPrefix()}index/`,
  index: (id: string): string => `${layout.repositoryPrefix()}index/${assertHexId(id)}`,
  snapshotsPrefix: (): string => `${layout.repositoryPrefix()}snapshots/`,
  snapshot: (id: string): string => `${layout.repositoryPrefix()}snapshots/${assertHexId(id)}`,
} as const;

/** The id (last path segment) of a key under one of the repository prefixes, if it is a well-formed one. */
export function idOfKey(key: string): string | undefined {
  const last = key.slice(key.lastIndexOf('/') + 1).replace(/\.json$/, '');
  return /^[0-9a-f]{64}$/.test(last) ? last : undefined;
}

function assertHexId(id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) {
    throw new CairnError('REPOSITORY_INVALID_ID', `"${id}" is not a repository object id (64 hex digits)`, {
      hint: 'This is a bug in Cairn unless the id came from a damaged file.',
    });
  }
  return id;
}
