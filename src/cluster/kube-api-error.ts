import { CairnError } from '../errors/cairn-error.ts';

/** The parts of a Kubernetes `Status` object we act on. */
export interface KubeStatus {
  readonly kind?: string;
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { message?: string; field?: string }[];
  };
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'KUBE_BAD_REQUEST',
  401: 'KUBE_UNAUTHORIZED',
  403: 'KUBE_FORBIDDEN',
  404: 'KUBE_NOT_FOUND',
  405: 'KUBE_METHOD_NOT_ALLOWED',
  409: 'KUBE_CONFLICT',
  410: 'KUBE_GONE',
  415: 'KUBE_UNSUPPORTED_MEDIA_TYPE',
  422: 'KUBE_INVALID',
  429: 'KUBE_TOO_MANY_REQUESTS',
};

const HINTS: Record<number, string> = {
  401: 'The credentials in the kubeconfig were rejected; refresh them (e.g. log in again) or pick another --context.',
  403: 'The user lacks RBAC permission for this; grant it or use an account that has it.',
  429: 'The API server is throttling; lower --qps/--burst or retry later.',
};

/** An error answer of the Kubernetes API, with the HTTP status and the Status reason. */
export class KubeApiError extends CairnError {
  readonly status: number;
  readonly reason: string | undefined;
  readonly kubeStatus: KubeStatus | undefined;

  constructor(status: number, what: string, kubeStatus?: KubeStatus) {
    const detail = kubeStatus?.message ?? `HTTP ${status}`;
    const hint = HINTS[status];
    super(
      CODE_BY_STATUS[status] ?? (status >= 500 ? 'KUBE_SERVER_ERROR' : 'KUBE_API_ERROR'),
      `${what}: ${detail}`,
      {
        ...(hint === undefined ? {} : { hint }),
      },
    );
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = kubeStatus?.reason;
    this.kubeStatus = kubeStatus;
  }

  /** Worth retrying: throttling, timeouts and server errors. */
  get retryable(): boolean {
    return this.status === 429 || this.status === 504 || this.status === 503 || this.status === 500;
  }
}

export function isKubeStatus(err: unknown, status: number): err is KubeApiError {
  return err instanceof KubeApiError && err.status === status;
}
