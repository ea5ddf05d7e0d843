import { stringify } from 'yaml';

export const SANDBOX_CONTEXT = 'cairn-sandbox';

/**
 * A kubeconfig for the sandbox. The server speaks plain HTTP; the cluster entry
 * still says `insecure-skip-tls-verify: true` because @kubernetes/client-node
 * refuses a plain-http server without it.
 */
export function kubeconfigYaml(url: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: SANDBOX_CONTEXT, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: SANDBOX_CONTEXT, user: {} }],
    contexts: [
      {
        name: SANDBOX_CONTEXT,
        context: { cluster: SANDBOX_CONTEXT, user: SANDBOX_CONTEXT, namespace: 'default' },
      },
    ],
    'current-context': SANDBOX_CONTEXT,
    preferences: {},
  });
}
