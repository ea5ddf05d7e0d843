import { badRequest, expired } from './api-error.ts';
import type { Json } from './object-meta.ts';
import { SelectorError } from './selector/errors.ts';
import { type FieldSelector, parseFieldSelector } from './selector/field-selector.ts';
import { type LabelSelector, parseLabelSelector } from './selector/label-selector.ts';
import type { StoredObject } from './store/object-store.ts';

/** Parsed list/watch filters shared by list, watch and deletecollection. */
export interface ObjectFilter {
  matches(o: StoredObject): boolean;
  /** True when no selector narrows the result. */
  readonly everything: boolean;
}

/** Field-selector fields a type supports besides metadata.name/namespace (as kube-apiserver). */
const EXTRA_FIELDS: Record<string, readonly string[]> = {
  '/secrets': ['type'],
  '/namespaces': ['status.phase'],
  '/pods': [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  '/events': [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  '/replicationcontrollers': ['status.replicas'],
  'apps/replicasets': ['status.replicas'],
  'batch/jobs': ['status.successful'],
};

function fieldValue(obj: Json, path: string): string | undefined {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Json)[part];
  }
  if (cur === undefined || cur === null) return undefined;
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

/** Builds the filter of `labelSelector` + `fieldSelector`; a malformed one is a 400. */
export function objectFilter(
  typeKey: string,
  labelSelector: string | null,
  fieldSelector: string | null,
): ObjectFilter {
  let labels: LabelSelector | undefined;
  let fields: FieldSelector | undefined;
  try {
    if (labelSelector) labels = parseLabelSelector(labelSelector);
    if (fieldSelector) fields = parseFieldSelector(fieldSelector);
  } catch (e) {
    if (e instanceof SelectorError) throw badRequest(e.message);
    throw e;
  }
  if (fields) {
    const extra = EXTRA_FIELDS[typeKey] ?? [];
    for (const r of fields.requirements) {
      if (r.field !== 'metadata.name' && r.field !== 'metadata.namespace' && !extra.includes(r.field))
        throw badRequest(`field label not supported: ${r.field}`);
    }
  }
  if (labels?.isEverything()) labels = undefined;
  if (fields?.isEverything()) fields = undefined;
  if (!labels && !fields) return { matches: () => true, everything: true };
  return {
    everything: false,
    matches(o: StoredObject): boolean {
      if (labels && !labels.matches(o.labels ?? {})) return false;
      if (fields) {
        let parsed: Json | undefined;
        const get = (path: string) => {
          if (path === 'metadata.name') return o.name;
          if (path === 'metadata.namespace') return o.namespace;
          parsed ??= o.obj;
          return fieldValue(parsed, path);
        };
        if (!fields.matches(get)) return false;
      }
      return true;
    },
  };
}

/** Position a continue token resumes from, and the revision of the list it continues. */
export interface ContinuePosition {
  rv: number;
  after: string;
}

export function encodeContinue(pos: ContinuePosition): string {
  return Buffer.from(JSON.stringify({ v: 'sandbox/1', rv: pos.rv, start: pos.after })).toString('base64url');
}

const TOO_OLD =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

export function decodeContinue(token: string, compactedRevision: number): ContinuePosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('continue key is not valid: invalid continue token');
  }
  const p = parsed as { v?: unknown; rv?: unknown; start?: unknown };
  if (p.v !== 'sandbox/1' || typeof p.rv !== 'number' || typeof p.start !== 'string')
    throw badRequest(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  if (p.rv < compactedRevision) throw expired(TOO_OLD);
  return { rv: p.rv, after: p.start };
}
