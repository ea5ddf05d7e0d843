/**
 * Label selectors as kubectl writes them (`app=web,tier!=db`, `env in (a,b)`,
 * `!legacy`), evaluated on the client: a restore filters objects read from an
 * archive, not from an API server.
 */
import { CairnError } from '../errors/cairn-error.ts';

type Requirement =
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: Set<string> }
  | { op: 'exists' | 'absent'; key: string };

export type LabelSelector = (labels: Readonly<Record<string, string>>) => boolean;

function invalid(selector: string, why: string): CairnError {
  return new CairnError(
    'INVALID_LABEL_SELECTOR',
    `invalid label selector ${JSON.stringify(selector)}: ${why}`,
    {
      hint: 'Use kubectl syntax: key=value, key!=value, key in (a,b), key notin (a,b), key, !key — comma-separated.',
    },
  );
}

/** Splits on commas outside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function parseRequirement(selector: string, part: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
  if (set !== null) {
    const [, key = '', op, list = ''] = set;
    const values = list.split(',').map((v) => v.trim());
    if (!KEY.test(key) || values.some((v) => !VALUE.test(v))) throw invalid(selector, `bad term "${part}"`);
    return { op: op === 'in' ? 'in' : 'notin', key, values: new Set(values) };
  }
  const cmp = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (cmp !== null) {
    const [, key = '', op, value = ''] = cmp;
    if (!KEY.test(key) || !VALUE.test(value)) throw invalid(selector, `bad term "${part}"`);
    return { op: op === '!=' ? 'ne' : 'eq', key, value };
  }
  if (part.startsWith('!')) {
    const key = part.slice(1).trim();
    if (!KEY.test(key)) throw invalid(selector, `bad term "${part}"`);
    return { op: 'absent', key };
  }
  if (!KEY.test(part)) throw invalid(selector, `bad term "${part}"`);
  return { op: 'exists', key: part };
}

function matches(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
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
  if (selector.trim() === '') return () => true;
  const requirements = splitTop(selector).map((part) => {
    if (part === '') throw invalid(selector, 'empty term');
    return parseRequirement(selector, part);
  });
  return (labels) => requirements.every((r) => matches(r, labels));
}
