/**
 * What `cairn install` puts into a cluster, rendered as plain objects: the
 * CRDs (from src/api), the namespace, a ServiceAccount, least-privilege RBAC,
 * the controller Deployment and its metrics Service. Every RBAC rule carries
 * the reason it exists (printed as a YAML comment by `--dry-run -o yaml`, and
 * listed in docs/controller.md) — a rule nobody can justify is removed.
 */
import { API_VERSION, DEFAULT_NAMESPACE, GROUP, LABELS } from '../api/common.ts';
import { crdManifests, KINDS } from '../api/crd.ts';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
} & Record<string, unknown>;

export interface InstallOptions {
  /** Namespace of the controller and of Cairn's custom resources (default cairn-system). */
  readonly namespace?: string;
  /** Controller image (default `cairn:<version>`, built from the repository's Dockerfile). */
  readonly image?: string;
  /** Cairn version (labels, default image tag). */
  readonly version: string;
  /**
   * Grant the cluster-wide write rules that restores need (default true).
   * Without them Cairn can back up but not restore: a backup-only install.
   */
  readonly restorePermissions?: boolean;
  readonly replicas?: number;
}

/** The one port of `cairn server`: /metrics, /healthz and /readyz. */
export const METRICS_PORT = 8085;
/** How long a stopping controller lets running backups finish (`cairn server --shutdown-timeout`). */
export const SHUTDOWN_TIMEOUT_S = 300;
/** Names of the objects `cairn install` creates (all `cairn`, CRDs aside). */
export const INSTALL_NAME = 'cairn';
export const FIELD_MANAGER = 'cairn-install';

/** An RBAC rule and why Cairn needs it. */
export interface ExplainedRule {
  readonly why: string;
  readonly rule: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
}

const READ = ['get', 'list', 'watch'];

/** Cluster-wide rules (ClusterRole `cairn`). */
export function clusterRules(restorePermissions = true): ExplainedRule[] {
  const rules: ExplainedRule[] = [
    {
      why:
        'Backup: list and read every object of every API group (Secrets included — a backup without them ' +
        'cannot restore an app); watch, so the controller notices new CRDs and its own resources. Read-only.',
      rule: { apiGroups: ['*'], resources: ['*'], verbs: READ },
    },
  ];
  if (restorePermissions) {
    rules.push(
      {
        why:
          'Restore: create objects from a backup in any group (CRDs first, then namespaces, RBAC, workloads), ' +
          'update/patch them under the existing-resource policy (update), delete them under "recreate". ' +
          'No deletecollection, no escalate/impersonate outside RBAC (next rule).',
        rule: { apiGroups: ['*'], resources: ['*'], verbs: ['create', 'update', 'patch', 'delete'] },
      },
      {
        why:
          'Restore of RBAC: the API server refuses to let anyone create a Role/ClusterRole granting more than ' +
          'they hold, or bind one, without escalate/bind. Restored RBAC must come back exactly as backed up.',
        rule: {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['roles', 'clusterroles'],
          verbs: ['escalate', 'bind'],
        },
      },
    );
  }
  return rules;
}

/** Rules in Cairn's own namespace (Role `cairn`): its resources, leader election, events. */
export function namespaceRules(): ExplainedRule[] {
  return [
    {
      why:
        "Cairn's own resources (Backups, Restores, Schedules, BackupLocations, EtcdBackups): the controller " +
        'reconciles them, creates Backups for Schedules and location sync, deletes expired ones (retention).',
      rule: {
        apiGroups: [GROUP],
        resources: KINDS.map((k) => k.plural),
        verbs: [...READ, 'create', 'update', 'patch', 'delete'],
      },
    },
    {
      why: 'Status of those resources (phase, progress, counts, validation errors) — a separate subresource.',
      rule: {
        apiGroups: [GROUP],
        resources: KINDS.map((k) => `${k.plural}/status`),
        verbs: ['get', 'update', 'patch'],
      },
    },
    {
      why: 'Credentials live in Secrets of this namespace: BackupLocations (an S3 credentials file) and EtcdBackups (etcd client TLS and auth).',
      rule: { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
    },
    {
      why: 'Leader election: replicas compete for one Lease so two controllers never run the same backup.',
      rule: {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
      },
    },
    {
      why: 'Kubernetes Events on Cairn resources for every phase change and failure (kubectl describe shows them).',
      rule: { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    },
  ];
}

function labels(version: string, component?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'cairn',
    [LABELS.partOf]: 'cairn',
    [LABELS.managedBy]: 'cairn',
    'app.kubernetes.io/version': version,
    ...(component === undefined ? {} : { 'app.kubernetes.io/component': component }),
  };
}

/** Cluster-scoped names must not collide between installs in two namespaces. */
export function clusterRoleName(namespace: string): string {
  return namespace === DEFAULT_NAMESPACE ? INSTALL_NAME : `${INSTALL_NAME}-${namespace}`;
}

const SELECTOR = { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/component': 'controller' };

/** Every object of an install, in apply order (CRDs and namespace first, the Deployment last). */
export function renderInstall(options: InstallOptions): KubeObject[] {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const version = options.version;
  const image = options.image ?? `cairn:${version}`;
  const meta = (name: string, component?: string) => ({
    name,
    namespace,
    labels: labels(version, component),
  });
  const clusterMeta = (name: string) => ({ name, labels: labels(version) });
  const rules = (explained: ExplainedRule[]) => explained.map((e) => e.rule);
  const clusterRole = clusterRoleName(namespace);
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: clusterMeta(namespace) },
    ...(crdManifests() as KubeObject[]),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(INSTALL_NAME, 'controller') },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: clusterMeta(clusterRole),
      rules: rules(clusterRules(options.restorePermissions ?? true)),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: clusterMeta(clusterRole),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: INSTALL_NAME, namespace }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(INSTALL_NAME),
      rules: rules(namespaceRules()),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(INSTALL_NAME),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: INSTALL_NAME },
      subjects: [{ kind: 'ServiceAccount', name: INSTALL_NAME, namespace }],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(`${INSTALL_NAME}-metrics`, 'controller'),
      spec: {
        selector: SELECTOR,
        ports: [{ name: 'http-metrics', port: METRICS_PORT, targetPort: 'http-metrics', protocol: 'TCP' }],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(INSTALL_NAME, 'controller'),
      spec: {
        replicas: options.replicas ?? 1,
        selector: { matchLabels: SELECTOR },
        template: {
          metadata: {
            labels: { ...labels(version, 'controller'), ...SELECTOR },
            annotations: {
              'prometheus.io/scrape': 'true',
              'prometheus.io/port': String(METRICS_PORT),
              'prometheus.io/path': '/metrics',
            },
          },
          spec: {
            serviceAccountName: INSTALL_NAME,
            // The controller only talks to the API server and to storage; no host access of any kind.
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 10001,
              runAsGroup: 10001,
              fsGroup: 10001,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            // SIGTERM lets running backups finish for up to --shutdown-timeout; the kubelet must not
            // SIGKILL before that (plus time to release the lease).
            terminationGracePeriodSeconds: SHUTDOWN_TIMEOUT_S + 30,
            containers: [
              {
                name: 'cairn',
                image,
                imagePullPolicy: 'IfNotPresent',
                // The image's ENTRYPOINT is `cairn server` (see Dockerfile); these are its flags.
                args: [
                  '--namespace',
                  namespace,
                  '--metrics-port',
                  String(METRICS_PORT),
                  '--shutdown-timeout',
                  `${SHUTDOWN_TIMEOUT_S}s`,
                ],
                env: [
                  { name: 'CAIRN_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  // Leader election identity: the pod name is unique among replicas.
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'TMPDIR', value: '/tmp' },
                ],
                ports: [{ name: 'http-metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
                livenessProbe: {
                  httpGet: { path: '/healthz', port: 'http-metrics' },
                  initialDelaySeconds: 10,
                  periodSeconds: 20,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: 'http-metrics' },
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                resources: {
                  requests: { cpu: '100m', memory: '256Mi' },
                  limits: { memory: '1Gi' },
                },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                // readOnlyRootFilesystem: restores spill large archives to $TMPDIR, so /tmp is a volume.
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: {} }],
          },
        },
      },
    },
  ];
}

/** The reason attached to a rule of a rendered ClusterRole/Role (for YAML comments). */
export function ruleReasons(kind: 'ClusterRole' | 'Role', restorePermissions = true): string[] {
  return (kind === 'ClusterRole' ? clusterRules(restorePermissions) : namespaceRules()).map((r) => r.why);
}

/** The Cairn API version the installed controller serves (for messages). */
export const INSTALLED_API = API_VERSION;
