/**
 * Label selectors, a port of k8s.io/apimachinery/pkg/labels/selector.go
 * (lexer, parser, requirement validation, matching and String()) and of
 * `metav1.LabelSelectorAsSelector` (pkg/apis/meta/v1/helpers.go).
 *
 * Grammar (from selector.go):
 *   <selector-syntax>         ::= <requirement> | <requirement> "," <selector-syntax>
 *   <requirement>             ::= [!] KEY [ <set-based-restriction> | <exact-match-restriction> ]
 *   <set-based-restriction>   ::= "" | <inclusion-exclusion> <value-set>
 *   <inclusion-exclusion>     ::= "in" | "notin"
 *   <value-set>               ::= "(" <values> ")"
 *   <exact-match-restriction> ::= ["="|"=="|"!="] VALUE   (and, undocumented there, ">" / "<" with an integer)
 */

import { SelectorError } from './errors.ts';

export { SelectorError } from './errors.ts';

/** `selection.Operator` values as Kubernetes spells them. */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

/** One requirement of a label selector. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Empty for exists/!; one value for =, ==, !=, gt, lt; one or more for in/notin. */
  readonly values: readonly string[];
}

/** A parsed label selector: the AND of its requirements. */
export interface LabelSelector {
  /** Requirements sorted by key, as Kubernetes keeps them. */
  readonly requirements: readonly LabelRequirement[];
  /** True for `labels.Nothing()` (a nil metav1.LabelSelector): matches no object. */
  readonly matchesNothing: boolean;
  /** Whether an object with these labels is selected. */
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
  /** True when the selector selects everything (no requirements). */
  isEverything(): boolean;
  /** Canonical text form, as `Selector.String()` (see {@link formatLabelSelector}). */
  toString(): string;
}

// ---------------------------------------------------------------------------
// Validation (k8s.io/apimachinery/pkg/util/validation/validation.go)

const QNAME_CHAR_FMT = '[A-Za-z0-9]';
const QNAME_EXT_CHAR_FMT = '[-A-Za-z0-9_.]';
const QUALIFIED_NAME_FMT = `(${QNAME_CHAR_FMT}${QNAME_EXT_CHAR_FMT}*)?${QNAME_CHAR_FMT}`;
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const QUALIFIED_NAME_ERR =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const LABEL_VALUE_RE = new RegExp(`^${LABEL_VALUE_FMT}$`);
const LABEL_VALUE_ERR =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX = 63;
const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const DNS1123_SUBDOMAIN_ERR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MAX = 253;

/** Go `len()`: byte length of the UTF-8 encoding. */
function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) {
    return `${msg} (regex used for validation is '${fmt}')`;
  }
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join('or ')}regex used for validation is '${fmt}')`;
}

function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

function isDns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) {
    errs.push(regexError(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, 'example.com'));
  }
  return errs;
}

/**
 * `validation.IsQualifiedName`: an optional DNS-subdomain prefix (≤253) and
 * `/`, then a name of ≤63 alphanumerics, `-`, `_`, `.`.
 * @returns the problems found; empty when `value` is valid
 */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0] as string;
  } else if (parts.length === 2) {
    const prefix = parts[0] as string;
    name = parts[1] as string;
    if (prefix.length === 0) {
      errs.push('prefix part must be non-empty');
    } else {
      errs.push(...isDns1123Subdomain(prefix).map((m) => `prefix part ${m}`));
    }
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) {
    errs.push('name part must be non-empty');
  } else if (byteLength(name) > QUALIFIED_NAME_MAX) {
    errs.push(`name part ${maxLenError(QUALIFIED_NAME_MAX)}`);
  }
  if (!QUALIFIED_NAME_RE.test(name)) {
    errs.push(
      `name part ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`,
    );
  }
  return errs;
}

/**
 * `validation.IsValidLabelValue`: empty, or ≤63 alphanumerics, `-`, `_`, `.`
 * starting and ending alphanumeric.
 * @returns the problems found; empty when `value` is valid
 */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > LABEL_VALUE_MAX) errs.push(maxLenError(LABEL_VALUE_MAX));
  if (!LABEL_VALUE_RE.test(value)) {
    errs.push(regexError(LABEL_VALUE_ERR, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  }
  return errs;
}

/** `field.Invalid(path, value, detail).Error()` for a string value. */
function invalid(path: string, value: string, detail: string): string {
  return `${path}: Invalid value: ${JSON.stringify(value)}: ${detail}`;
}

/** `field.ErrorList.ToAggregate().Error()`: one message, or `[a, b]`. */
function aggregate(errs: string[]): string {
  return errs.length === 1 ? (errs[0] as string) : `[${errs.join(', ')}]`;
}

/** Go `strconv.ParseInt(s, 10, 64)`; undefined when it would fail. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

/**
 * `labels.NewRequirement`: validate key, operator/value count and values.
 * @throws SelectorError with the aggregated field errors
 */
function newRequirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  const errs: string[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length > 0) errs.push(invalid('key', key, keyErrs.join('; ')));
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) {
        errs.push(
          "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
        );
      }
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) {
        errs.push(
          `values: Invalid value: ${goStringSlice(values)}: exact-match compatibility requires one single value`,
        );
      }
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) {
        errs.push(
          `values: Invalid value: ${goStringSlice(values)}: values set must be empty for exists and does not exist`,
        );
      }
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) {
        errs.push(
          `values: Invalid value: ${goStringSlice(values)}: for 'Gt', 'Lt' operators, exactly one value is required`,
        );
      }
      values.forEach((v, i) => {
        if (parseInt64(v) === undefined) {
          errs.push(invalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      });
      break;
  }
  values.forEach((v, i) => {
    const valueErrs = isValidLabelValue(v);
    if (valueErrs.length > 0) errs.push(invalid(`values[${i}][${key}]`, v, valueErrs.join('; ')));
  });
  if (errs.length > 0) {
    throw new SelectorError(aggregate(errs));
  }
  return { key, operator, values };
}

function goStringSlice(values: readonly string[]): string {
  return `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
}

// ---------------------------------------------------------------------------
// Lexer (selector.go Lexer): byte-oriented, `\0` doubles as end of input.

type Token =
  | 'error'
  | 'eos'
  | 'closedPar'
  | 'comma'
  | 'doesNotExist'
  | 'doubleEquals'
  | 'equals'
  | 'greaterThan'
  | 'identifier'
  | 'in'
  | 'lessThan'
  | 'notEquals'
  | 'notIn'
  | 'openPar';

const STRING_TO_TOKEN: ReadonlyMap<string, Token> = new Map<string, Token>([
  [')', 'closedPar'],
  [',', 'comma'],
  ['!', 'doesNotExist'],
  ['==', 'doubleEquals'],
  ['=', 'equals'],
  ['>', 'greaterThan'],
  ['in', 'in'],
  ['<', 'lessThan'],
  ['!=', 'notEquals'],
  ['notin', 'notIn'],
  ['(', 'openPar'],
]);

function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

function isSpecialSymbol(ch: string): boolean {
  return '=!(),><'.includes(ch) && ch !== '';
}

interface ScannedItem {
  readonly tok: Token;
  readonly literal: string;
}

function lex(input: string): ScannedItem[] {
  let pos = 0;
  // Go's read() yields 0 at the end of input; a literal NUL is read the same way.
  const read = (): string => (pos < input.length ? (input[pos++] as string) : '\0');
  const unread = (): void => {
    pos--;
  };
  const items: ScannedItem[] = [];
  for (;;) {
    let ch = read();
    while (isWhitespace(ch)) ch = read();
    if (ch === '\0') {
      items.push({ tok: 'eos', literal: '' });
      return items;
    }
    unread();
    if (isSpecialSymbol(ch)) {
      // Longest special-symbol token (e.g. "!=" over "!").
      let buffer = '';
      let last: ScannedItem | undefined;
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (!isSpecialSymbol(c)) {
          unread();
          break;
        }
        buffer += c;
        const tok = STRING_TO_TOKEN.get(buffer);
        if (tok !== undefined) {
          last = { tok, literal: buffer };
        } else if (last !== undefined) {
          unread();
          break;
        }
      }
      items.push(last ?? { tok: 'error', literal: `error expected: keyword found '${buffer}'` });
    } else {
      let buffer = '';
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (isSpecialSymbol(c) || isWhitespace(c)) {
          unread();
          break;
        }
        buffer += c;
      }
      items.push({ tok: STRING_TO_TOKEN.get(buffer) ?? 'identifier', literal: buffer });
    }
  }
}

// ---------------------------------------------------------------------------
// Parser (selector.go Parser)

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  private readonly items: ScannedItem[];
  private position = 0;

  constructor(input: string) {
    this.items = lex(input);
  }

  /** In the Values context the keywords `in`/`notin` are plain identifiers. */
  private lookahead(values: boolean): [Token, string] {
    const item = this.items[this.position] ?? { tok: 'eos', literal: '' };
    let tok = item.tok;
    if (values && (tok === 'in' || tok === 'notIn')) tok = 'identifier';
    return [tok, item.literal];
  }

  private consume(values: boolean): [Token, string] {
    const result = this.lookahead(values);
    this.position++;
    return result;
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    for (;;) {
      const [tok, lit] = this.lookahead(true);
      if (tok === 'identifier' || tok === 'doesNotExist') {
        let r: LabelRequirement;
        try {
          r = this.parseRequirement();
        } catch (err) {
          if (err instanceof SelectorError) {
            throw new SelectorError(`unable to parse requirement: ${err.message}`);
          }
          throw err;
        }
        requirements.push(r);
        const [t, l] = this.consume(true);
        if (t === 'eos') return requirements;
        if (t === 'comma') {
          const [t2, l2] = this.lookahead(true);
          if (t2 !== 'identifier' && t2 !== 'doesNotExist') {
            throw new SelectorError(`found '${l2}', expected: identifier after ','`);
          }
        } else {
          throw new SelectorError(`found '${l}', expected: ',' or 'end of string'`);
        }
      } else if (tok === 'eos') {
        return requirements;
      } else {
        throw new SelectorError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    const [key, inferred] = this.parseKeyAndInferOperator();
    if (inferred !== undefined) {
      return newRequirement(key, inferred, []);
    }
    const operator = this.parseOperator();
    const values = operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue();
    // sets.String.List(): sorted, de-duplicated.
    return newRequirement(key, operator, sortStrings([...new Set(values)]));
  }

  private parseKeyAndInferOperator(): [string, LabelOperator | undefined] {
    let operator: LabelOperator | undefined;
    let [tok, literal] = this.consume(true);
    if (tok === 'doesNotExist') {
      operator = '!';
      [tok, literal] = this.consume(true);
    }
    if (tok !== 'identifier') {
      throw new SelectorError(`found '${literal}', expected: identifier`);
    }
    const errs = isQualifiedName(literal);
    if (errs.length > 0) {
      // field.Invalid with the parser's nil path renders as "<nil>".
      throw new SelectorError(invalid('<nil>', literal, errs.join('; ')));
    }
    const [next] = this.lookahead(true);
    if ((next === 'eos' || next === 'comma') && operator !== '!') {
      operator = 'exists';
    }
    return [literal, operator];
  }

  private parseOperator(): LabelOperator {
    const [tok, lit] = this.consume(false);
    switch (tok) {
      case 'in':
        return 'in';
      case 'equals':
        return '=';
      case 'doubleEquals':
        return '==';
      case 'greaterThan':
        return 'gt';
      case 'lessThan':
        return 'lt';
      case 'notIn':
        return 'notin';
      case 'notEquals':
        return '!=';
      default:
        throw new SelectorError(`found '${lit}', expected: ${BINARY_OPERATORS}`);
    }
  }

  private parseValues(): string[] {
    const [tok, lit] = this.consume(true);
    if (tok !== 'openPar') {
      throw new SelectorError(`found '${lit}' expected: '('`);
    }
    const [next, nextLit] = this.lookahead(true);
    if (next === 'identifier' || next === 'comma') {
      const values = this.parseIdentifiersList();
      const [close] = this.consume(true);
      if (close !== 'closedPar') {
        throw new SelectorError(`found '${nextLit}', expected: ')'`);
      }
      return values;
    }
    if (next === 'closedPar') {
      // "()" means the single empty value.
      this.consume(true);
      return [''];
    }
    throw new SelectorError(`found '${nextLit}', expected: ',', ')' or identifier`);
  }

  private parseIdentifiersList(): string[] {
    const values: string[] = [];
    for (;;) {
      const [tok, lit] = this.consume(true);
      if (tok === 'identifier') {
        values.push(lit);
        const [tok2, lit2] = this.lookahead(true);
        if (tok2 === 'comma') continue;
        if (tok2 === 'closedPar') return values;
        throw new SelectorError(`found '${lit2}', expected: ',' or ')'`);
      }
      if (tok === 'comma') {
        // Empty values around commas: "(,a)", "(a,)" and "(a,,b)" contain "".
        if (values.length === 0) values.push('');
        const [tok2] = this.lookahead(true);
        if (tok2 === 'closedPar') {
          values.push('');
          return values;
        }
        if (tok2 === 'comma') {
          this.consume(true);
          values.push('');
        }
        continue;
      }
      throw new SelectorError(`found '${lit}', expected: ',', or identifier`);
    }
  }

  private parseExactValue(): string[] {
    const [tok] = this.lookahead(true);
    if (tok === 'eos' || tok === 'comma') {
      return [''];
    }
    const [tok2, lit] = this.consume(true);
    if (tok2 === 'identifier') {
      return [lit];
    }
    throw new SelectorError(`found '${lit}', expected: identifier`);
  }
}

/** Byte-wise (UTF-8) string order, as Go's sort.Strings. */
function compareStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortStrings(values: string[]): string[] {
  return values.sort(compareStrings);
}

// ---------------------------------------------------------------------------
// Selector

function requirementMatches(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(value as string);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(value as string);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || r.values.length !== 1) return false;
      const actual = parseInt64(value as string);
      const wanted = parseInt64(r.values[0] as string);
      if (actual === undefined || wanted === undefined) return false;
      return r.operator === 'gt' ? actual > wanted : actual < wanted;
    }
  }
}

/** `Requirement.String()`. */
function formatRequirement(r: LabelRequirement): string {
  let out = r.operator === '!' ? `!${r.key}` : r.key;
  switch (r.operator) {
    case 'exists':
    case '!':
      return out;
    case 'in':
      out += ' in ';
      break;
    case 'notin':
      out += ' notin ';
      break;
    case 'gt':
      out += '>';
      break;
    case 'lt':
      out += '<';
      break;
    default:
      out += r.operator;
  }
  // Values are printed sorted, without mutating the requirement.
  const values = r.values.length === 1 ? (r.values[0] as string) : sortStrings([...r.values]).join(',');
  return r.operator === 'in' || r.operator === 'notin' ? `${out}(${values})` : `${out}${values}`;
}

function makeSelector(requirements: LabelRequirement[], matchesNothing = false): LabelSelector {
  // Stable sort by key (Go sorts ByKey; stability makes the order deterministic).
  const sorted = [...requirements].sort((a, b) => compareStrings(a.key, b.key));
  return {
    requirements: sorted,
    matchesNothing,
    matches(labels) {
      if (matchesNothing) return false;
      const set = labels ?? {};
      return sorted.every((r) => requirementMatches(r, set));
    },
    isEverything: () => !matchesNothing && sorted.length === 0,
    toString: () => sorted.map(formatRequirement).join(','),
  };
}

/**
 * Parse a label selector string as `labels.Parse` does (the `labelSelector`
 * query parameter). The empty string selects everything.
 *
 * @throws SelectorError (400) with Kubernetes' message, e.g.
 *   `unable to parse requirement: <nil>: Invalid value: "a@b": name part must consist of …`
 */
export function parseLabelSelector(text: string): LabelSelector {
  return makeSelector(new Parser(text).parse());
}

/**
 * Canonical text of a selector (`Selector.String()`): requirements sorted by
 * key and joined by `,`; set values sorted. `labels.Nothing()` prints as `""`
 * like in Kubernetes, so it does not round-trip through the parser.
 */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector.requirements.map(formatRequirement).join(',');
}

/** `metav1.LabelSelector` as found in object specs. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] | null }> | null;
}

/**
 * `metav1.LabelSelectorAsSelector`: `null`/`undefined` selects nothing, an
 * empty selector selects everything, matchLabels become `=` requirements and
 * matchExpressions use In / NotIn / Exists / DoesNotExist.
 *
 * @throws SelectorError for an unknown operator or invalid keys/values
 */
export function labelSelectorFromObject(selector: LabelSelectorObject | null | undefined): LabelSelector {
  if (selector === null || selector === undefined) {
    return makeSelector([], true);
  }
  const requirements: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    requirements.push(newRequirement(key, '=', [value]));
  }
  for (const expr of selector.matchExpressions ?? []) {
    let operator: LabelOperator;
    switch (expr.operator) {
      case 'In':
        operator = 'in';
        break;
      case 'NotIn':
        operator = 'notin';
        break;
      case 'Exists':
        operator = 'exists';
        break;
      case 'DoesNotExist':
        operator = '!';
        break;
      default:
        throw new SelectorError(`${JSON.stringify(expr.operator)} is not a valid label selector operator`);
    }
    requirements.push(newRequirement(expr.key, operator, [...(expr.values ?? [])]));
  }
  return makeSelector(requirements);
}
