/**
 * Field tables for the protobuf messages `kubectl create <generator>` sends
 * (deployment, service, serviceaccount, role, clusterrole, rolebinding,
 * clusterrolebinding, quota, job, cronjob, poddisruptionbudget, ingress), Pod,
 * and the reviews of `kubectl auth can-i` / `kubectl auth whoami`. Field numbers are those of k8s.io/api's generated.proto, checked against
 * the bodies kubectl 1.32 actually sends. Only fields a generator can set are
 * listed: a non-empty field missing from these tables makes the decoder refuse
 * the body (415) rather than drop data silently.
 */

export type Scalar = 'string' | 'int' | 'bool';

export type FieldType =
  | Scalar
  | 'objectMeta'
  | 'intOrString'
  | 'quantity'
  | 'ignore'
  | { message: MessageSchema }
  /** A Go struct embedded with `json:",inline"`: its fields land in the parent object. */
  | { inline: MessageSchema }
  | { map: 'string' | 'quantity' };

export interface FieldDef {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** Pointer fields in Go: an explicit 0/false is meaningful and kept. */
  keepZero?: boolean;
}

export interface MessageSchema {
  name: string;
  fields: Record<number, FieldDef>;
}

const msg = (name: string, fields: Record<number, FieldDef>): MessageSchema => ({ name, fields });
const f = (name: string, type: FieldType, extra: Partial<FieldDef> = {}): FieldDef => ({
  name,
  type,
  ...extra,
});
const list = (name: string, type: FieldType): FieldDef => ({ name, type, repeated: true });

const LABEL_SELECTOR = msg('LabelSelector', {
  1: f('matchLabels', { map: 'string' }),
  2: list('matchExpressions', {
    message: msg('LabelSelectorRequirement', {
      1: f('key', 'string'),
      2: f('operator', 'string'),
      3: list('values', 'string'),
    }),
  }),
});

const CONTAINER = msg('Container', {
  1: f('name', 'string'),
  2: f('image', 'string'),
  3: list('command', 'string'),
  4: list('args', 'string'),
  5: f('workingDir', 'string'),
  6: list('ports', {
    message: msg('ContainerPort', {
      1: f('name', 'string'),
      2: f('hostPort', 'int'),
      3: f('containerPort', 'int'),
      4: f('protocol', 'string'),
      5: f('hostIP', 'string'),
    }),
  }),
  7: list('env', { message: msg('EnvVar', { 1: f('name', 'string'), 2: f('value', 'string') }) }),
  8: f('resources', {
    message: msg('ResourceRequirements', {
      1: f('limits', { map: 'quantity' }),
      2: f('requests', { map: 'quantity' }),
    }),
  }),
  13: f('terminationMessagePath', 'string'),
  14: f('imagePullPolicy', 'string'),
  16: f('stdin', 'bool'),
  17: f('stdinOnce', 'bool'),
  18: f('tty', 'bool'),
  20: f('terminationMessagePolicy', 'string'),
  24: f('restartPolicy', 'string'),
});

const POD_SPEC = msg('PodSpec', {
  2: list('containers', { message: CONTAINER }),
  3: f('restartPolicy', 'string'),
  4: f('terminationGracePeriodSeconds', 'int', { keepZero: true }),
  5: f('activeDeadlineSeconds', 'int'),
  6: f('dnsPolicy', 'string'),
  7: f('nodeSelector', { map: 'string' }),
  8: f('serviceAccountName', 'string'),
  9: f('serviceAccount', 'string'),
  10: f('nodeName', 'string'),
  11: f('hostNetwork', 'bool'),
  12: f('hostPID', 'bool'),
  13: f('hostIPC', 'bool'),
  16: f('hostname', 'string'),
  17: f('subdomain', 'string'),
  19: f('schedulerName', 'string'),
  20: list('initContainers', { message: CONTAINER }),
  24: f('priorityClassName', 'string'),
});

const POD_TEMPLATE = msg('PodTemplateSpec', {
  1: f('metadata', 'objectMeta'),
  2: f('spec', { message: POD_SPEC }),
});

const JOB_SPEC = msg('JobSpec', {
  1: f('parallelism', 'int', { keepZero: true }),
  2: f('completions', 'int', { keepZero: true }),
  3: f('activeDeadlineSeconds', 'int'),
  4: f('selector', { message: LABEL_SELECTOR }),
  5: f('manualSelector', 'bool'),
  6: f('template', { message: POD_TEMPLATE }),
  7: f('backoffLimit', 'int', { keepZero: true }),
  8: f('ttlSecondsAfterFinished', 'int', { keepZero: true }),
  9: f('completionMode', 'string'),
  10: f('suspend', 'bool'),
});

const POLICY_RULE = msg('PolicyRule', {
  1: list('verbs', 'string'),
  2: list('apiGroups', 'string'),
  3: list('resources', 'string'),
  4: list('resourceNames', 'string'),
  5: list('nonResourceURLs', 'string'),
});

const SUBJECT = msg('Subject', {
  1: f('kind', 'string'),
  2: f('apiGroup', 'string'),
  3: f('name', 'string'),
  4: f('namespace', 'string'),
});

const ROLE_REF = msg('RoleRef', {
  1: f('apiGroup', 'string'),
  2: f('kind', 'string'),
  3: f('name', 'string'),
});

const INGRESS_BACKEND = msg('IngressBackend', {
  3: f('resource', {
    message: msg('TypedLocalObjectReference', {
      1: f('apiGroup', 'string'),
      2: f('kind', 'string'),
      3: f('name', 'string'),
    }),
  }),
  4: f('service', {
    message: msg('IngressServiceBackend', {
      1: f('name', 'string'),
      2: f('port', { message: msg('ServiceBackendPort', { 1: f('name', 'string'), 2: f('number', 'int') }) }),
    }),
  }),
});

/** Top-level messages by `apiVersion/kind`. Field 3 (status) is ignored: create resets it. */
export const KIND_SCHEMAS: Record<string, MessageSchema> = {
  'authorization.k8s.io/v1/SelfSubjectAccessReview': msg('SelfSubjectAccessReview', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('SelfSubjectAccessReviewSpec', {
        1: f('resourceAttributes', {
          message: msg('ResourceAttributes', {
            1: f('namespace', 'string'),
            2: f('verb', 'string'),
            3: f('group', 'string'),
            4: f('version', 'string'),
            5: f('resource', 'string'),
            6: f('subresource', 'string'),
            7: f('name', 'string'),
          }),
        }),
        2: f('nonResourceAttributes', {
          message: msg('NonResourceAttributes', { 1: f('path', 'string'), 2: f('verb', 'string') }),
        }),
      }),
    }),
    3: f('status', 'ignore'),
  }),
  'authorization.k8s.io/v1/SelfSubjectRulesReview': msg('SelfSubjectRulesReview', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', { message: msg('SelfSubjectRulesReviewSpec', { 1: f('namespace', 'string') }) }),
    3: f('status', 'ignore'),
  }),
  'authentication.k8s.io/v1/SelfSubjectReview': msg('SelfSubjectReview', {
    1: f('metadata', 'objectMeta'),
    2: f('status', 'ignore'),
  }),
  'v1/ServiceAccount': msg('ServiceAccount', {
    1: f('metadata', 'objectMeta'),
    4: f('automountServiceAccountToken', 'bool', { keepZero: true }),
  }),
  'v1/Service': msg('Service', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('ServiceSpec', {
        1: list('ports', {
          message: msg('ServicePort', {
            1: f('name', 'string'),
            2: f('protocol', 'string'),
            3: f('port', 'int'),
            4: f('targetPort', 'intOrString'),
            5: f('nodePort', 'int'),
            6: f('appProtocol', 'string'),
          }),
        }),
        2: f('selector', { map: 'string' }),
        3: f('clusterIP', 'string'),
        4: f('type', 'string'),
        10: f('externalName', 'string'),
      }),
    }),
    3: f('status', 'ignore'),
  }),
  'v1/Pod': msg('Pod', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', { message: POD_SPEC }),
    3: f('status', 'ignore'),
  }),
  'v1/ResourceQuota': msg('ResourceQuota', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('ResourceQuotaSpec', { 1: f('hard', { map: 'quantity' }), 2: list('scopes', 'string') }),
    }),
    3: f('status', 'ignore'),
  }),
  'apps/v1/Deployment': msg('Deployment', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('DeploymentSpec', {
        1: f('replicas', 'int', { keepZero: true }),
        2: f('selector', { message: LABEL_SELECTOR }),
        3: f('template', { message: POD_TEMPLATE }),
        4: f('strategy', {
          message: msg('DeploymentStrategy', {
            1: f('type', 'string'),
            2: f('rollingUpdate', {
              message: msg('RollingUpdateDeployment', {
                1: f('maxUnavailable', 'intOrString'),
                2: f('maxSurge', 'intOrString'),
              }),
            }),
          }),
        }),
        5: f('minReadySeconds', 'int'),
        6: f('revisionHistoryLimit', 'int', { keepZero: true }),
        7: f('paused', 'bool'),
        9: f('progressDeadlineSeconds', 'int', { keepZero: true }),
      }),
    }),
    3: f('status', 'ignore'),
  }),
  'batch/v1/Job': msg('Job', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', { message: JOB_SPEC }),
    3: f('status', 'ignore'),
  }),
  'batch/v1/CronJob': msg('CronJob', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('CronJobSpec', {
        1: f('schedule', 'string'),
        2: f('startingDeadlineSeconds', 'int', { keepZero: true }),
        3: f('concurrencyPolicy', 'string'),
        4: f('suspend', 'bool', { keepZero: true }),
        5: f('jobTemplate', {
          message: msg('JobTemplateSpec', {
            1: f('metadata', 'objectMeta'),
            2: f('spec', { message: JOB_SPEC }),
          }),
        }),
        6: f('successfulJobsHistoryLimit', 'int', { keepZero: true }),
        7: f('failedJobsHistoryLimit', 'int', { keepZero: true }),
        8: f('timeZone', 'string'),
      }),
    }),
    3: f('status', 'ignore'),
  }),
  'rbac.authorization.k8s.io/v1/Role': msg('Role', {
    1: f('metadata', 'objectMeta'),
    2: list('rules', { message: POLICY_RULE }),
  }),
  'rbac.authorization.k8s.io/v1/ClusterRole': msg('ClusterRole', {
    1: f('metadata', 'objectMeta'),
    2: list('rules', { message: POLICY_RULE }),
  }),
  'rbac.authorization.k8s.io/v1/RoleBinding': msg('RoleBinding', {
    1: f('metadata', 'objectMeta'),
    2: list('subjects', { message: SUBJECT }),
    3: f('roleRef', { message: ROLE_REF }),
  }),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': msg('ClusterRoleBinding', {
    1: f('metadata', 'objectMeta'),
    2: list('subjects', { message: SUBJECT }),
    3: f('roleRef', { message: ROLE_REF }),
  }),
  'policy/v1/PodDisruptionBudget': msg('PodDisruptionBudget', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('PodDisruptionBudgetSpec', {
        1: f('minAvailable', 'intOrString'),
        2: f('selector', { message: LABEL_SELECTOR }),
        3: f('maxUnavailable', 'intOrString'),
        4: f('unhealthyPodEvictionPolicy', 'string'),
      }),
    }),
    3: f('status', 'ignore'),
  }),
  'networking.k8s.io/v1/Ingress': msg('Ingress', {
    1: f('metadata', 'objectMeta'),
    2: f('spec', {
      message: msg('IngressSpec', {
        1: f('defaultBackend', { message: INGRESS_BACKEND }),
        2: list('tls', {
          message: msg('IngressTLS', { 1: list('hosts', 'string'), 2: f('secretName', 'string') }),
        }),
        3: list('rules', {
          message: msg('IngressRule', {
            1: f('host', 'string'),
            2: f('ingressRuleValue', {
              inline: msg('IngressRuleValue', {
                1: f('http', {
                  message: msg('HTTPIngressRuleValue', {
                    1: list('paths', {
                      message: msg('HTTPIngressPath', {
                        1: f('path', 'string'),
                        2: f('backend', { message: INGRESS_BACKEND }),
                        3: f('pathType', 'string'),
                      }),
                    }),
                  }),
                }),
              }),
            }),
          }),
        }),
        4: f('ingressClassName', 'string'),
      }),
    }),
    3: f('status', 'ignore'),
  }),
};
