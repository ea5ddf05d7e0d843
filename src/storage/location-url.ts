import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from '../errors/cairn-error.ts';
import type { S3LocationConfig } from './s3/s3-store.ts';

/** A parsed location URL: where a location lives, without credentials. */
export type LocationSpec =
  | { readonly provider: 'filesystem'; readonly path: string }
  | ({ readonly provider: 's3' } & S3LocationConfig);

const S3_PARAMS = new Set([
  'endpoint',
  'region',
  'forcePathStyle',
  'profile',
  'credentialsFile',
  'caBundle',
  'insecureSkipTLSVerify',
  'partSize',
]);

function invalid(url: string, problem: string): CairnError {
  return new CairnError('LOCATION_URL_INVALID', `invalid location URL ${JSON.stringify(url)}: ${problem}`, {
    hint: 'Use a folder path, file:///abs/path, or s3://bucket/prefix?endpoint=https://host:port&region=us-east-1&forcePathStyle=true',
  });
}

function parseBool(url: string, name: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw invalid(url, `${name} must be true or false, not ${JSON.stringify(value)}`);
}

/**
 * Parses a location URL: a plain path (relative to `cwd`), `file:///abs/path`,
 * or `s3://bucket[/prefix][?endpoint=…&region=…&forcePathStyle=…&profile=…
 * &credentialsFile=…&caBundle=…&insecureSkipTLSVerify=…]`. Unknown query
 * parameters are errors, so a typo never silently changes where data goes.
 * Credentials never come from the URL (URLs end up in logs and shell history).
 */
export function parseLocationUrl(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): LocationSpec {
  const trimmed = url.trim();
  if (trimmed === '') throw invalid(url, 'it is empty');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) return { provider: 'filesystem', path: path.resolve(cwd, trimmed) };
  if (scheme === 'file') {
    try {
      return { provider: 'filesystem', path: fileURLToPath(trimmed) };
    } catch (err) {
      throw invalid(url, err instanceof Error ? err.message : String(err));
    }
  }
  if (scheme !== 's3') throw invalid(url, `unsupported scheme "${scheme}://" (use a path, file:// or s3://)`);

  // URL parsing resolves "." and ".." silently; check the raw path first so they never move the prefix.
  const rawPath = trimmed.replace(/^s3:\/\/[^/?#]*/i, '').replace(/[?#].*$/, '');
  if (rawPath.split('/').some((s) => s === '.' || s === '..' || s === '%2e%2e' || s === '%2E%2E')) {
    throw invalid(url, `prefix "${rawPath}" has "." or ".." segments`);
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw invalid(url, 'it is not a valid URL');
  }
  const bucket = parsed.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw invalid(
      url,
      `"${bucket}" is not a valid bucket name (3–63 lowercase letters, digits, "." and "-")`,
    );
  }
  if (parsed.username || parsed.password) throw invalid(url, 'credentials must not be part of the URL');
  const rawPrefix = decodeURIComponent(parsed.pathname.replace(/^\/+/, '').replace(/\/+$/, ''));
  if (rawPrefix.split('/').some((s) => s === '.' || s === '..') || rawPrefix.includes('//')) {
    throw invalid(url, `prefix "${rawPrefix}" has empty, "." or ".." segments`);
  }
  const prefix = rawPrefix === '' ? '' : `${rawPrefix}/`;

  for (const name of parsed.searchParams.keys()) {
    if (!S3_PARAMS.has(name))
      throw invalid(url, `unknown parameter "${name}" (known: ${[...S3_PARAMS].join(', ')})`);
  }
  const q = (name: string) => parsed.searchParams.get(name) ?? undefined;
  const endpoint = q('endpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw invalid(url, `endpoint "${endpoint}" must start with http:// or https://`);
  }
  const forcePathStyleText = q('forcePathStyle');
  const insecure = q('insecureSkipTLSVerify');
  const partSizeText = q('partSize');
  const partSize = partSizeText === undefined ? undefined : Number(partSizeText);
  if (partSize !== undefined && (!Number.isSafeInteger(partSize) || partSize < 5 * 1024 * 1024)) {
    throw invalid(url, 'partSize must be a whole number of bytes, at least 5 MiB (5242880)');
  }
  const optional = {
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(q('profile') === undefined ? {} : { profile: q('profile') as string }),
    ...(q('credentialsFile') === undefined
      ? {}
      : { credentialsFile: path.resolve(cwd, q('credentialsFile') as string) }),
    ...(q('caBundle') === undefined ? {} : { caBundle: path.resolve(cwd, q('caBundle') as string) }),
    ...(insecure === undefined
      ? {}
      : { insecureSkipTlsVerify: parseBool(url, 'insecureSkipTLSVerify', insecure) }),
    ...(partSize === undefined ? {} : { partSize }),
  };
  return {
    provider: 's3',
    bucket,
    prefix,
    region: q('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    // S3-compatible servers on an IP or a plain host name need path-style addressing.
    forcePathStyle:
      forcePathStyleText === undefined
        ? endpoint !== undefined
        : parseBool(url, 'forcePathStyle', forcePathStyleText),
    ...optional,
  };
}

/** The URL of a spec again, for messages and `location info` (never contains secrets). */
export function formatLocation(spec: LocationSpec): string {
  if (spec.provider === 'filesystem') return spec.path;
  const params = new URLSearchParams();
  if (spec.endpoint !== undefined) params.set('endpoint', spec.endpoint);
  params.set('region', spec.region);
  if (spec.forcePathStyle) params.set('forcePathStyle', 'true');
  if (spec.profile !== undefined) params.set('profile', spec.profile);
  return `s3://${spec.bucket}/${spec.prefix}?${params.toString()}`;
}
