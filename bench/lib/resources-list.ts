/**
 * The bare-LIST baseline of `bench/resources.ts`: lists exactly the types a
 * whole-cluster `cairn backup create` lists (discovery + the backup's own
 * selection rules), with the same client (`ClusterConnection`, JSON parse
 * included), the same page size (500) and the same concurrency (8 types at a
 * time), and writes nothing. Prints one JSON line: {"types":…,"items":…,"pages":…}.
 *
 *   node bench/lib/resources-list.ts --kubeconfig F --qps 1000 --burst 1000
 */
import { parseArgs } from 'node:util';
import { ClusterConnection } from '../../src/cluster/connection.ts';
import { resourcePath } from '../../src/cluster/discovery.ts';
import { forEachLimit } from '../../src/util/rate-limit.ts';
import { backupTypes } from './resources-types.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    qps: { type: 'string', default: '100' },
    burst: { type: 'string', default: '200' },
    'page-size': { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '8' },
  },
});

interface Page {
  items?: { metadata?: { name?: string } }[];
  metadata?: { continue?: string };
}

const connection = await ClusterConnection.connect({
  ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
  qps: Number(values.qps),
  burst: Number(values.burst),
});
try {
  const types = await backupTypes(connection);
  let items = 0;
  let pages = 0;
  const limit = Number(values['page-size']);
  await forEachLimit(types, Number(values.concurrency), async (type) => {
    let token: string | undefined;
    do {
      const page = await connection.request<Page>('GET', resourcePath(type, undefined), {
        query: { limit, continue: token },
      });
      items += page.items?.length ?? 0;
      pages++;
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
  });
  process.stdout.write(`${JSON.stringify({ types: types.length, items, pages })}\n`);
} finally {
  connection.close();
}
