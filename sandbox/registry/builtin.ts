import { ALL_VERBS, type ResourceType } from './resource-type.ts';

interface BuiltinSpec {
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  all?: boolean;
  sub?: Array<'status' | 'scale'>;
  verbs?: string[];
  versions?: string[];
  virtual?: boolean;
}

function group(name: string, version: string, specs: BuiltinSpec[]): ResourceType[] {
  return specs.map((s) => ({
    group: name,
    versions: s.versions ?? [version],
    resource: s.resource,
    singular: s.kind.toLowerCase(),
    kind: s.kind,
    listKind: `${s.kind}List`,
    namespaced: s.namespaced,
    shortNames: s.shortNames ?? [],
    categories: s.all ? ['all'] : [],
    verbs: s.verbs ?? ALL_VERBS,
    subresources: s.sub ?? [],
    custom: false,
    ...(s.virtual ? { virtual: true } : {}),
  }));
}

const NS = true;
const CLUSTER = false;

/**
 * The built-in resource types the sandbox serves. Scope, short names,
 * categories and subresources follow a real 1.32 kube-apiserver (as printed by
 * `kubectl api-resources`); subresources the sandbox cannot honour (pods/log,
 * pods/exec, serviceaccounts/token, ...) are deliberately not advertised.
 */
export const BUILTIN_TYPES: ResourceType[] = [
  ...group('', 'v1', [
    {
      resource: 'namespaces',
      kind: 'Namespace',
      namespaced: CLUSTER,
      shortNames: ['ns'],
      sub: ['status'],
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    },
    { resource: 'configmaps', kind: 'ConfigMap', namespaced: NS, shortNames: ['cm'] },
    { resource: 'secrets', kind: 'Secret', namespaced: NS },
    {
      resource: 'services',
      kind: 'Service',
      namespaced: NS,
      shortNames: ['svc'],
      all: true,
      sub: ['status'],
    },
    { resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: NS, shortNames: ['sa'] },
    { resource: 'pods', kind: 'Pod', namespaced: NS, shortNames: ['po'], all: true, sub: ['status'] },
    { resource: 'podtemplates', kind: 'PodTemplate', namespaced: NS },
    {
      resource: 'replicationcontrollers',
      kind: 'ReplicationController',
      namespaced: NS,
      shortNames: ['rc'],
      all: true,
      sub: ['status', 'scale'],
    },
    { resource: 'endpoints', kind: 'Endpoints', namespaced: NS, shortNames: ['ep'] },
    { resource: 'events', kind: 'Event', namespaced: NS, shortNames: ['ev'] },
    { resource: 'nodes', kind: 'Node', namespaced: CLUSTER, shortNames: ['no'], sub: ['status'] },
    {
      resource: 'persistentvolumes',
      kind: 'PersistentVolume',
      namespaced: CLUSTER,
      shortNames: ['pv'],
      sub: ['status'],
    },
    {
      resource: 'persistentvolumeclaims',
      kind: 'PersistentVolumeClaim',
      namespaced: NS,
      shortNames: ['pvc'],
      sub: ['status'],
    },
    { resource: 'limitranges', kind: 'LimitRange', namespaced: NS, shortNames: ['limits'] },
    {
      resource: 'resourcequotas',
      kind: 'ResourceQuota',
      namespaced: NS,
      shortNames: ['quota'],
      sub: ['status'],
    },
  ]),
  ...group('apps', 'v1', [
    {
      resource: 'deployments',
      kind: 'Deployment',
      namespaced: NS,
      shortNames: ['deploy'],
      all: true,
      sub: ['status', 'scale'],
    },
    {
      resource: 'statefulsets',
      kind: 'StatefulSet',
      namespaced: NS,
      shortNames: ['sts'],
      all: true,
      sub: ['status', 'scale'],
    },
    {
      resource: 'daemonsets',
      kind: 'DaemonSet',
      namespaced: NS,
      shortNames: ['ds'],
      all: true,
      sub: ['status'],
    },
    {
      resource: 'replicasets',
      kind: 'ReplicaSet',
      namespaced: NS,
      shortNames: ['rs'],
      all: true,
      sub: ['status', 'scale'],
    },
    { resource: 'controllerrevisions', kind: 'ControllerRevision', namespaced: NS },
  ]),
  ...group('batch', 'v1', [
    { resource: 'jobs', kind: 'Job', namespaced: NS, all: true, sub: ['status'] },
    { resource: 'cronjobs', kind: 'CronJob', namespaced: NS, shortNames: ['cj'], all: true, sub: ['status'] },
  ]),
  ...group('rbac.authorization.k8s.io', 'v1', [
    { resource: 'roles', kind: 'Role', namespaced: NS },
    { resource: 'rolebindings', kind: 'RoleBinding', namespaced: NS },
    { resource: 'clusterroles', kind: 'ClusterRole', namespaced: CLUSTER },
    { resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: CLUSTER },
  ]),
  ...group('storage.k8s.io', 'v1', [
    { resource: 'storageclasses', kind: 'StorageClass', namespaced: CLUSTER, shortNames: ['sc'] },
    { resource: 'volumeattachments', kind: 'VolumeAttachment', namespaced: CLUSTER, sub: ['status'] },
    { resource: 'csidrivers', kind: 'CSIDriver', namespaced: CLUSTER },
    { resource: 'csinodes', kind: 'CSINode', namespaced: CLUSTER },
    { resource: 'csistoragecapacities', kind: 'CSIStorageCapacity', namespaced: NS },
  ]),
  ...group('snapshot.storage.k8s.io', 'v1', [
    {
      resource: 'volumesnapshots',
      kind: 'VolumeSnapshot',
      namespaced: NS,
      shortNames: ['vs'],
      sub: ['status'],
    },
    {
      resource: 'volumesnapshotcontents',
      kind: 'VolumeSnapshotContent',
      namespaced: CLUSTER,
      shortNames: ['vsc', 'vscs'],
      sub: ['status'],
    },
    {
      resource: 'volumesnapshotclasses',
      kind: 'VolumeSnapshotClass',
      namespaced: CLUSTER,
      shortNames: ['vsclass', 'vsclasses'],
    },
  ]),
  ...group('apiextensions.k8s.io', 'v1', [
    {
      resource: 'customresourcedefinitions',
      kind: 'CustomResourceDefinition',
      namespaced: CLUSTER,
      shortNames: ['crd', 'crds'],
      sub: ['status'],
    },
  ]),
  ...group('coordination.k8s.io', 'v1', [{ resource: 'leases', kind: 'Lease', namespaced: NS }]),
  ...group('networking.k8s.io', 'v1', [
    { resource: 'ingresses', kind: 'Ingress', namespaced: NS, shortNames: ['ing'], sub: ['status'] },
    { resource: 'ingressclasses', kind: 'IngressClass', namespaced: CLUSTER },
    { resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: NS, shortNames: ['netpol'] },
  ]),
  ...group('policy', 'v1', [
    {
      resource: 'poddisruptionbudgets',
      kind: 'PodDisruptionBudget',
      namespaced: NS,
      shortNames: ['pdb'],
      sub: ['status'],
    },
  ]),
  ...group('authorization.k8s.io', 'v1', [
    {
      resource: 'selfsubjectaccessreviews',
      kind: 'SelfSubjectAccessReview',
      namespaced: CLUSTER,
      verbs: ['create'],
      virtual: true,
    },
    {
      resource: 'selfsubjectrulesreviews',
      kind: 'SelfSubjectRulesReview',
      namespaced: CLUSTER,
      verbs: ['create'],
      virtual: true,
    },
  ]),
  ...group('authentication.k8s.io', 'v1', [
    {
      resource: 'selfsubjectreviews',
      kind: 'SelfSubjectReview',
      namespaced: CLUSTER,
      verbs: ['create'],
      virtual: true,
    },
  ]),
  ...group('admissionregistration.k8s.io', 'v1', [
    { resource: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: CLUSTER },
    {
      resource: 'validatingwebhookconfigurations',
      kind: 'ValidatingWebhookConfiguration',
      namespaced: CLUSTER,
    },
  ]),
];
