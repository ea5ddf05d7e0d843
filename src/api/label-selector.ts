/**
 * Syntax check of kubectl label selectors (`app=web,tier!=db`, `env in (a,b)`,
 * `!legacy`), for validation of resources before anything runs. The base
 * folder may not import src/restore's evaluator, and only the syntax is
 * needed here; the two follow the same grammar (apimachinery's
 * labels.Parse).
 */

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

/** What is wrong with a selector, or undefined when it parses. An empty selector selects everything. */
export function labelSelectorProblem(selector: string): string | undefined {
  if (selector.trim() === '') return undefined;
  const parts = splitTop(selector);
  if (parts === undefined) return 'unbalanced parentheses';
  for (const part of parts) {
    if (part === '') return 'empty term (stray comma)';
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    if (set !== null) {
      const values = (set[3] ?? '').split(',').map((v) => v.trim());
      const problem = keyProblem(set[1] ?? '') ?? values.map(valueProblem).find((p) => p !== undefined);
      if (problem !== undefined) return problem;
      continue;
    }
    const cmp = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (cmp !== null) {
      const problem = keyProblem(cmp[1] ?? '') ?? valueProblem(cmp[3] ?? '');
      if (problem !== undefined) return problem;
      continue;
    }
    const key = part.startsWith('!') ? part.slice(1).trim() : part;
    const problem = keyProblem(key);
    if (problem !== undefined) return `bad term "${part}": ${problem}`;
  }
  return undefined;
}
