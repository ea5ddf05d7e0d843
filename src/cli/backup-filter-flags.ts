/**
 * The backup filter flags (`--include-namespaces`, `-l`, …), defined once and
 * shared by `cairn backup create` and `cairn schedule create` so the two can
 * never drift apart.
 */
import type { Command } from 'commander';
import type { BackupFilter } from '../api/backup.ts';
import { CairnError } from '../errors/cairn-error.ts';

/** Comma-separated values, accumulated over repeated flags. */
export const list = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** A flag that may be repeated, each occurrence one value. */
export const repeat = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The values commander collects for the filter flags. */
export interface BackupFilterFlags {
  includeNamespaces?: string[];
  excludeNamespaces?: string[];
  includeResources?: string[];
  excludeResources?: string[];
  includeClusterResources: string;
  selector?: string[];
  allVersions?: boolean;
}

/** Adds the filter flags to a command. */
export function addBackupFilterOptions(command: Command): Command {
  return command
    .option('--include-namespaces <list>', 'namespaces or globs, comma-separated (default: all)', list)
    .option('--exclude-namespaces <list>', 'namespaces or globs to leave out', list)
    .option('--include-resources <list>', 'resource types as kubectl names them (default: all)', list)
    .option('--exclude-resources <list>', 'resource types to leave out', list)
    .option('--include-cluster-resources <mode>', 'auto | true | false', 'auto')
    .option('-l, --selector <selector>', 'label selector; repeat to OR several', repeat)
    .option('--all-versions', 'back up every served version of each group, not only the preferred one');
}

/** The filter the flags describe (every field filled in: src/catalog's BackupSpec has the same shape). */
export function backupFilterFromFlags(flags: BackupFilterFlags): BackupFilter {
  const mode = flags.includeClusterResources;
  if (mode !== 'auto' && mode !== 'true' && mode !== 'false') {
    throw new CairnError(
      'CLI_INVALID_FLAG',
      `--include-cluster-resources must be auto, true or false, not "${mode}"`,
    );
  }
  return {
    includeNamespaces: flags.includeNamespaces ?? [],
    excludeNamespaces: flags.excludeNamespaces ?? [],
    includeResources: flags.includeResources ?? [],
    excludeResources: flags.excludeResources ?? [],
    includeClusterResources: mode,
    labelSelectors: flags.selector ?? [],
    allVersions: flags.allVersions === true,
  };
}
