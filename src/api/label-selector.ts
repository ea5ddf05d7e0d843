/**
 * The one parser of kubectl label selectors (`app=web,tier!=db`,
 * `env in (a,b)`, `!legacy`; apimachinery's labels.Parse rules for keys and
 * values): validation of resources reports its problems before anything
 * runs, and src/restore evaluates its requirements on objects read from an
 * archive.
 */

/** One term of a selector. */
export type LabelRequirement =
  | { readonly op: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: ReadonlySet<string> }
  | { readonly op: 'exists' | 'absent'; readonly key: string };

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function splitTop(text: string): string[] | undefined {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (depth < 0 || depth > 1) return undefined;
    if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return undefined;
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function keyProblem(key: string): string | undefined {
  if (!KEY.test(key)) return `"${key}" is not a valid label key`;
  const name = key.slice(key.indexOf('/') + 1);
  if (name.length > 63) return `label key "${key}" is longer than 63 characters`;
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (!VALUE.test(value)) return `"${value}" is not a valid label value`;
  if (value.length > 63) return `label value "${value}" is longer than 63 characters`;
  return undefined;
}

/**
 * The requirements of a selector (all must hold), or what is wrong with it.
 * An empty selector has none: it selects everything.
 */
export function parseLabelRequirements(
  selector: string,
): { requirements: LabelRequirement[] } | { problem: string } {
  const requirements: LabelRequirement[] = [];
  if (selector.trim() === '') return { requirements };
  const parts = splitTop(selector);
  if (parts === undefined) return { problem: 'unbalanced parentheses' };
  for (const part of parts) {
    if (part === '') return { problem: 'empty term (stray comma)' };
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    if (set !== null) {
      const [, key = '', op, list = ''] = set;
      const values = list.split(',').map((v) => v.trim());
      const problem = keyProblem(key) ?? values.map(valueProblem).find((p) => p !== undefined);
      if (problem !== undefined) return { problem };
      requirements.push({ op: op === 'in' ? 'in' : 'notin', key, values: new Set(values) });
      continue;
    }
    const cmp = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (cmp !== null) {
      const [, key = '', op, value = ''] = cmp;
      const problem = keyProblem(key) ?? valueProblem(value);
      if (problem !== undefined) return { problem };
      requirements.push({ op: op === '!=' ? 'ne' : 'eq', key, value });
      continue;
    }
    const absent = part.startsWith('!');
    const key = absent ? part.slice(1).trim() : part;
    const problem = keyProblem(key);
    if (problem !== undefined) return { problem: `bad term "${part}": ${problem}` };
    requirements.push({ op: absent ? 'absent' : 'exists', key });
  }
  return { requirements };
}

/** What is wrong with a selector, or undefined when it parses. An empty selector selects everything. */
export function labelSelectorProblem(selector: string): string | undefined {
  const parsed = parseLabelRequirements(selector);
  return 'problem' in parsed ? parsed.problem : undefined;
}
