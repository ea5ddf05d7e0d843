/**
 * Label selectors as kubectl writes them (`app=web,tier!=db`, `env in (a,b)`,
 * `!legacy`), evaluated on the client: a restore filters objects read from an
 * archive, not from an API server. Parsed by src/api's parser, the same one
 * that validates the selectors of Restore resources.
 */
import { type LabelRequirement, parseLabelRequirements } from '../api/label-selector.ts';
import { CairnError } from '../errors/cairn-error.ts';

export type LabelSelector = (labels: Readonly<Record<string, string>>) => boolean;

function matches(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.op) {
    case 'eq':
      return has && value === r.value;
    case 'ne':
      return !has || value !== r.value;
    case 'in':
      return has && r.values.has(value as string);
    case 'notin':
      return !has || !r.values.has(value as string);
    case 'exists':
      return has;
    case 'absent':
      return !has;
  }
}

/** Parses a selector; the empty selector matches everything. */
export function parseLabelSelector(selector: string): LabelSelector {
  const parsed = parseLabelRequirements(selector);
  if ('problem' in parsed) {
    throw new CairnError(
      'INVALID_LABEL_SELECTOR',
      `invalid label selector ${JSON.stringify(selector)}: ${parsed.problem}`,
      {
        hint: 'Use kubectl syntax: key=value, key!=value, key in (a,b), key notin (a,b), key, !key — comma-separated.',
      },
    );
  }
  const { requirements } = parsed;
  return (labels) => requirements.every((r) => matches(r, labels));
}
