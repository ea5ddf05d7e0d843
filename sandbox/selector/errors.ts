/**
 * A label or field selector could not be parsed. kube-apiserver answers such
 * list/watch requests with 400 BadRequest and the parser's message.
 */
export class SelectorError extends Error {
  /** HTTP status of the Status the server should answer with. */
  readonly status = 400 as const;
  /** `metav1.StatusReason` for {@link status}. */
  readonly reason = 'BadRequest' as const;

  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}
