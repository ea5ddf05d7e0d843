/**
 * Field selectors, a port of k8s.io/apimachinery/pkg/fields/selector.go
 * (`ParseSelector`, `splitTerms`, `splitTerm`, `UnescapeValue`, `EscapeValue`).
 *
 * Which fields exist is not decided here: kube-apiserver converts each field
 * label per resource and answers `field label not supported: <field>` (400) for
 * unknown ones; the sandbox server does that with {@link FieldSelector.requirements}.
 */

import { SelectorError } from './errors.ts';

export { SelectorError } from './errors.ts';

/** One term. `==` parses to `=` (both are `selection.Equals` for fields). */
export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  /** Unescaped value. */
  readonly value: string;
}

/** A parsed field selector: the AND of its requirements. */
export interface FieldSelector {
  /** Terms, sorted as Kubernetes sorts them (by their raw text). */
  readonly requirements: readonly FieldRequirement[];
  /**
   * Whether an object matches. `getField` returns a field's value or
   * `undefined`; like `fields.Set.Get`, a missing field compares as `""`.
   */
  matches(getField: (path: string) => string | undefined): boolean;
  /** True when there are no requirements (selects everything). */
  isEverything(): boolean;
  /** Canonical text, as `Selector.String()`. */
  toString(): string;
}

/** `fields.EscapeValue`: escape `\`, `,` and `=` with a backslash. */
export function escapeFieldValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll(',', '\\,').replaceAll('=', '\\=');
}

/**
 * `fields.UnescapeValue`.
 * @throws SelectorError for an unknown escape, a trailing `\`, or a bare `,`/`=`
 */
export function unescapeFieldValue(value: string): string {
  if (!/[\\,=]/.test(value)) {
    return value;
  }
  let out = '';
  let inSlash = false;
  for (const c of value) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') {
        throw new SelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
      }
      out += c;
      inSlash = false;
      continue;
    }
    if (c === '\\') {
      inSlash = true;
    } else if (c === ',' || c === '=') {
      // Go formats the rune with %v, i.e. as its code point number.
      throw new SelectorError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else {
      out += c;
    }
  }
  if (inSlash) {
    throw new SelectorError('invalid field selector: invalid escape sequence: \\');
  }
  return out;
}

/** `splitTerms`: split on commas not preceded by an escaping backslash. */
function splitTerms(selector: string): string[] {
  if (selector.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) {
      inSlash = false;
    } else if (c === '\\') {
      inSlash = true;
    } else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

const TERM_OPERATORS = ['!=', '==', '='] as const;

/** `splitTerm`: the first position where an operator starts splits the term. */
function splitTerm(term: string): [string, (typeof TERM_OPERATORS)[number], string] | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of TERM_OPERATORS) {
      if (term.startsWith(op, i)) {
        return [term.slice(0, i), op, term.slice(i + op.length)];
      }
    }
  }
  return undefined;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function makeSelector(requirements: FieldRequirement[]): FieldSelector {
  const text = requirements.map((r) => `${r.field}${r.operator}${escapeFieldValue(r.value)}`).join(',');
  return {
    requirements,
    matches: (getField) =>
      requirements.every((r) => {
        const actual = getField(r.field) ?? '';
        return r.operator === '=' ? actual === r.value : actual !== r.value;
      }),
    isEverything: () => requirements.length === 0,
    toString: () => text,
  };
}

/**
 * Parse a field selector (the `fieldSelector` query parameter) as
 * `fields.ParseSelector`: comma-separated `field=value`, `field==value` or
 * `field!=value` terms; empty terms are skipped; no whitespace trimming.
 *
 * @throws SelectorError (400), e.g. `invalid selector: 'x'; can't understand 'x'`
 */
export function parseFieldSelector(text: string): FieldSelector {
  const parts = splitTerms(text).sort(compareBytes);
  const requirements: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const split = splitTerm(part);
    if (split === undefined) {
      throw new SelectorError(`invalid selector: '${text}'; can't understand '${part}'`);
    }
    const [field, op, rhs] = split;
    requirements.push({ field, operator: op === '!=' ? '!=' : '=', value: unescapeFieldValue(rhs) });
  }
  return makeSelector(requirements);
}

/** Canonical text of a field selector (`Selector.String()`): `==` prints as `=`. */
export function formatFieldSelector(selector: FieldSelector): string {
  return selector.toString();
}
