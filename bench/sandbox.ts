/**
 * Sandbox benchmark: create N ConfigMaps/Secrets (mixed sizes ~0.5–4 KiB) over
 * HTTP, then list them paginated (500 per page). The sandbox runs in its own
 * process (as `cairn sandbox start`) so client and server do not share a
 * thread; the report gives objects/s for create and list and the server's peak
 * RSS (VmHWM).
 *
 *   npm run bench:sandbox [-- --objects 100000 --concurrency 64]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '64' },
    namespaces: { type: 'string', default: '10' },
    'page-size': { type: 'string', default: '500' },
  },
});
const TOTAL = Number(values.objects);
const CONCURRENCY = Number(values.concurrency);
const NAMESPACES = Number(values.namespaces);
const PAGE = Number(values['page-size']);

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function call(
  base: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: body
          ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function payload(i: number): { kind: 'configmaps' | 'secrets'; ns: string; body: string } {
  const ns = `bench-${i % NAMESPACES}`;
  const size = 512 + ((i * 2654435761) % (3584 + 1)); // 0.5–4 KiB, spread deterministically
  const name = `obj-${String(i).padStart(7, '0')}`;
  const labels = { app: `app-${i % 50}`, bench: 'sandbox' };
  if (i % 2 === 0) {
    const value = randomBytes(Math.ceil((size * 3) / 4))
      .toString('base64')
      .slice(0, size);
    return {
      kind: 'configmaps',
      ns,
      body: JSON.stringify({ metadata: { name, labels }, data: { blob: value } }),
    };
  }
  const raw = randomBytes(Math.ceil((size * 3) / 4));
  return {
    kind: 'secrets',
    ns,
    body: JSON.stringify({
      metadata: { name, labels },
      type: 'Opaque',
      data: { blob: raw.toString('base64') },
    }),
  };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function main(): Promise<void> {
  const server = spawn(process.execPath, [new URL('../sandbox/main.ts', import.meta.url).pathname, 'start'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  server.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 15_000;
  let base: string | undefined;
  while (!base) {
    base = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    if (!base) {
      if (Date.now() > deadline) throw new Error(`sandbox did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    for (let n = 0; n < NAMESPACES; n++) {
      const r = await call(
        base,
        'POST',
        '/api/v1/namespaces',
        JSON.stringify({ metadata: { name: `bench-${n}` } }),
      );
      if (r.status !== 201) throw new Error(`namespace create: ${r.status} ${r.text}`);
    }
    // Pre-build bodies so the client measures the server, not JSON.stringify.
    const bodies = Array.from({ length: TOTAL }, (_, i) => payload(i));
    const bytes = bodies.reduce((n, b) => n + b.body.length, 0);

    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (;;) {
          const i = next++;
          if (i >= TOTAL) return;
          const b = bodies[i] as (typeof bodies)[number];
          const r = await call(base as string, 'POST', `/api/v1/namespaces/${b.ns}/${b.kind}`, b.body);
          if (r.status !== 201) throw new Error(`create ${i}: ${r.status} ${r.text}`);
        }
      }),
    );
    const createSec = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    let listed = 0;
    let pages = 0;
    for (const kind of ['configmaps', 'secrets']) {
      let token = '';
      do {
        const r = await call(
          base,
          'GET',
          `/api/v1/${kind}?limit=${PAGE}${token ? `&continue=${encodeURIComponent(token)}` : ''}`,
        );
        if (r.status !== 200) throw new Error(`list: ${r.status} ${r.text.slice(0, 200)}`);
        const list = JSON.parse(r.text) as { items: unknown[]; metadata: { continue?: string } };
        listed += list.items.length;
        pages++;
        token = list.metadata.continue ?? '';
      } while (token);
    }
    const listSec = (performance.now() - t1) / 1000;
    if (listed !== TOTAL) throw new Error(`listed ${listed} objects, created ${TOTAL}`);

    const t2 = performance.now();
    const selected = await call(base, 'GET', `/api/v1/configmaps?labelSelector=app%3Dapp-8&limit=${PAGE}`);
    const selectorMs = performance.now() - t2;
    const selectedCount = (JSON.parse(selected.text) as { items: unknown[] }).items.length;

    const rss = peakRssMiB(server.pid as number);
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    process.stdout.write(
      [
        `sandbox benchmark: ${fmt(TOTAL)} objects (ConfigMaps + Secrets, ${(bytes / TOTAL / 1024).toFixed(1)} KiB avg request), ` +
          `${NAMESPACES} namespaces, ${CONCURRENCY} concurrent creates`,
        `create: ${fmt(TOTAL / createSec)} objects/s (${createSec.toFixed(1)} s)`,
        `list:   ${fmt(listed / listSec)} objects/s (${pages} pages of ${PAGE}, ${listSec.toFixed(2)} s, client JSON parse included)`,
        `label-selected list (app=app-8) over ${fmt(Math.ceil(TOTAL / 2))} ConfigMaps: ${selectedCount} items in ${selectorMs.toFixed(0)} ms`,
        `server peak RSS: ${rss.toFixed(0)} MiB`,
        '',
      ].join('\n'),
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
    agent.destroy();
  }
}

await main();
