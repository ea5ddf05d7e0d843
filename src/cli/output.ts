import { createRequire } from 'node:module';
import { CairnError } from '../errors/cairn-error.ts';

/**
 * `yaml` is loaded on the first YAML output (synchronously, through require):
 * +12 MiB RSS at start-up otherwise, for every command that can print YAML
 * but mostly does not (measured from dist/).
 */
let yaml: typeof import('yaml') | undefined;
const toYaml = (value: unknown): string => {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.stringify(value);
};

export type OutputFormat = 'text' | 'json' | 'yaml';

/** Validates the value of `-o/--output`. */
export function parseOutputFormat(value: string): OutputFormat {
  if (value === 'text' || value === 'json' || value === 'yaml') return value;
  throw new CairnError('CLI_INVALID_OUTPUT', `unknown output format "${value}"`, {
    hint: 'Use -o text, -o json or -o yaml.',
  });
}

/** Prints structured data as JSON or YAML, kubectl-style. */
export function printStructured(value: unknown, format: 'json' | 'yaml', write: (s: string) => void): void {
  write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value));
}

/** Human size, binary units. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
