/**
 * A unified-style line diff of two objects rendered as YAML (keys sorted), for
 * the dry-run plan: `-` lines are the live object, `+` lines the backup's.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';

/** Longest-common-subsequence table beyond this many cells is skipped (a summary line instead). */
const MAX_CELLS = 4_000_000;

export function toYamlLines(value: unknown): string[] {
  return stringify(value, { sortMapEntries: true, lineWidth: 0 }).trimEnd().split('\n');
}

/** Diff lines (`  x`, `- x`, `+ x`, `@@ …`) with `context` unchanged lines around each change; empty when equal. */
export function lineDiff(before: readonly string[], after: readonly string[], context = 2): string[] {
  const n = before.length;
  const m = after.length;
  if (n * m > MAX_CELLS) return [`@@ objects too large to diff (${n} vs ${m} lines) @@`];
  // lcs[i][j] = LCS length of before[i:] and after[j:], in one flat array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        before[i] === after[j]
          ? (lcs[(i + 1) * width + j + 1] as number) + 1
          : Math.max(lcs[(i + 1) * width + j] as number, lcs[i * width + j + 1] as number);
    }
  }
  const ops: { op: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      ops.push({ op: ' ', line: before[i] as string });
      i++;
      j++;
    } else if (
      i < n &&
      (j >= m || (lcs[(i + 1) * width + j] as number) >= (lcs[i * width + j + 1] as number))
    ) {
      ops.push({ op: '-', line: before[i] as string });
      i++;
    } else {
      ops.push({ op: '+', line: after[j] as string });
      j++;
    }
  }
  if (ops.every((o) => o.op === ' ')) return [];
  const keep = new Uint8Array(ops.length);
  ops.forEach((o, k) => {
    if (o.op === ' ') return;
    for (let c = Math.max(0, k - context); c <= Math.min(ops.length - 1, k + context); c++) keep[c] = 1;
  });
  const out: string[] = [];
  let lastKept = -1;
  ops.forEach((o, k) => {
    if (!keep[k]) return;
    if (k !== lastKept + 1 || lastKept === -1) out.push(`@@ line ${k + 1} @@`);
    out.push(`${o.op} ${o.line}`);
    lastKept = k;
  });
  return out;
}

/** Secret values never reach a terminal: each becomes a short digest, so a change still shows. */
export function redactSecret(object: Record<string, unknown>): Record<string, unknown> {
  const out = { ...object };
  for (const field of ['data', 'stringData']) {
    const values = out[field];
    if (values === null || typeof values !== 'object') continue;
    out[field] = Object.fromEntries(
      Object.entries(values as Record<string, unknown>).map(([k, v]) => [
        k,
        `<redacted sha256:${createHash('sha256').update(String(v)).digest('hex').slice(0, 12)}>`,
      ]),
    );
  }
  return out;
}

/** Diff of two objects as YAML lines (`secrets` redacted). */
export function objectDiff(
  live: Record<string, unknown>,
  desired: Record<string, unknown>,
  secret = false,
): string[] {
  return secret
    ? lineDiff(toYamlLines(redactSecret(live)), toYamlLines(redactSecret(desired)))
    : lineDiff(toYamlLines(live), toYamlLines(desired));
}
