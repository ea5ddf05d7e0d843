/**
 * Kubernetes core/v1 Events on the objects the controller works on — what
 * `kubectl describe` shows. Recording is best effort: a failed event write is
 * reported to `onError` and never fails a reconcile.
 */
import { randomBytes } from 'node:crypto';
import type { ClusterConnection } from './connection.ts';
import { microTime } from './lease.ts';

/** The object an event is about. */
export interface InvolvedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** `source.component` and `reportingController` (default `cairn-controller`). */
  readonly component?: string;
  /** `reportingInstance`, e.g. the pod name. */
  readonly instance?: string;
  readonly now?: () => Date;
  readonly onError?: (error: unknown) => void;
}

export class EventRecorder {
  readonly #connection: ClusterConnection;
  readonly #options: EventRecorderOptions;

  constructor(connection: ClusterConnection, options: EventRecorderOptions = {}) {
    this.#connection = connection;
    this.#options = options;
  }

  /** Writes one Event; resolves whether or not it was stored. */
  async record(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = (this.#options.now ?? (() => new Date()))();
    const component = this.#options.component ?? 'cairn-controller';
    try {
      await this.#connection.request('POST', `/api/v1/namespaces/${object.namespace}/events`, {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: {
            // client-go's naming: the object's name plus a unique suffix.
            name: `${object.name}.${randomBytes(8).toString('hex')}`,
            namespace: object.namespace,
          },
          involvedObject: object,
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component },
          reportingComponent: component,
          reportingInstance: this.#options.instance ?? '',
          firstTimestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          lastTimestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          eventTime: microTime(now),
          count: 1,
          action: reason,
        },
      });
    } catch (err) {
      this.#options.onError?.(err);
    }
  }
}
