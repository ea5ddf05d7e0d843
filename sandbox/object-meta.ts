import { randomInt } from 'node:crypto';
import type { StatusCause } from './api-error.ts';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function metaOf(obj: Json): Json {
  if (!isObject(obj.metadata)) obj.metadata = {};
  return obj.metadata as Json;
}

/** RFC 3339 without fractional seconds, as Kubernetes stamps metav1.Time. */
export function kubeNow(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastStamp = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
  }
  return lastStamp;
}
let lastSecond = -1;
let lastStamp = '';

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `generateName` suffix: 5 characters from apimachinery's alphabet (no vowels). */
export function generateSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[randomInt(GENERATE_ALPHABET.length)];
  return s;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export type NameRule = 'label' | 'subdomain' | 'path-segment';

export function validateName(name: string, rule: NameRule): string | undefined {
  if (rule === 'path-segment') {
    if (name === '.' || name === '..') return `may not be '${name}'`;
    if (name.includes('/') || name.includes('%')) return `may not contain '/' or '%'`;
    return undefined;
  }
  if (rule === 'label') {
    if (name.length > 63) return 'must be no more than 63 characters';
    if (!DNS_LABEL.test(name))
      return `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`;
    return undefined;
  }
  if (name.length > 253) return 'must be no more than 253 characters';
  if (!DNS_SUBDOMAIN.test(name))
    return `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
  return undefined;
}

function validateQualifiedKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'prefix part must be a lowercase RFC 1123 subdomain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name))
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

/** Validates metadata common to every kind; returns the causes (empty when valid). */
export function validateMeta(meta: Json, rule: NameRule): StatusCause[] {
  const causes: StatusCause[] = [];
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    causes.push({
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
      field: 'metadata.name',
    });
  } else {
    const bad = validateName(name, rule);
    if (bad)
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": ${bad}`,
        field: 'metadata.name',
      });
  }
  for (const field of ['labels', 'annotations'] as const) {
    const m = meta[field];
    if (m === undefined || m === null) continue;
    if (!isObject(m)) {
      causes.push({
        reason: 'FieldValueInvalid',
        message: 'Invalid value: must be a map',
        field: `metadata.${field}`,
      });
      continue;
    }
    for (const [k, v] of Object.entries(m)) {
      const badKey = validateQualifiedKey(k);
      if (badKey)
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${k}": ${badKey}`,
          field: `metadata.${field}`,
        });
      if (typeof v !== 'string') {
        causes.push({
          reason: 'FieldValueTypeInvalid',
          message: 'Invalid value: must be a string',
          field: `metadata.${field}.${k}`,
        });
      } else if (field === 'labels' && (v.length > 63 || !LABEL_VALUE.test(v))) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
          field: `metadata.labels`,
        });
      }
    }
  }
  if (meta.finalizers !== undefined && meta.finalizers !== null) {
    if (!Array.isArray(meta.finalizers) || meta.finalizers.some((f) => typeof f !== 'string'))
      causes.push({
        reason: 'FieldValueInvalid',
        message: 'Invalid value: must be a list of strings',
        field: 'metadata.finalizers',
      });
  }
  return causes;
}
