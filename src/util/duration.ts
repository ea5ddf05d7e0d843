import { CairnError } from '../errors/cairn-error.ts';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Parses `15m`, `168h`, `1h30m`, `7d`, `1y` (Go-style plus d/w/y) into milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d+)([smhdwy])/g)];
  if (trimmed === '' || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new CairnError('INVALID_DURATION', `invalid ${what} ${JSON.stringify(text)}`, {
      hint: 'Use a number and a unit: s, m, h, d, w or y, e.g. 15m, 168h, 1h30m, 365d.',
    });
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? 's'] ?? 0), 0);
}

/** Milliseconds as a short duration string (`15m`, `168h`, `1h30m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let left = Math.round(ms / 1000);
  const out: string[] = [];
  for (const [unit, seconds] of [
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(left / seconds);
    if (n > 0) out.push(`${n}${unit}`);
    left -= n * seconds;
  }
  return out.join('');
}
