// Usage: node scripts/with-services.ts <command> [args...]
//
// Starts a throwaway Ceph RGW (S3) server, runs <command> with CAIRN_TEST_S3_* set,
// stops the server and exits with the command's exit code. If CAIRN_TEST_S3_ENDPOINT
// is already set (e.g. `eval $(node scripts/rgw.ts start)`), the given server is reused.

import { spawn } from 'node:child_process';
import { type RgwServer, startRgw } from '../test/support/rgw.ts';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-services.ts <command> [args...]');
  process.exit(2);
}

const say = (line: string) => console.error(`[with-services] ${line}`);
const verbose = process.env.CAIRN_SERVICES_VERBOSE === '1';

const abort = new AbortController();
let server: RgwServer | undefined;
let child: ReturnType<typeof spawn> | undefined;
let signalled: NodeJS.Signals | undefined;

const onSignal = (sig: NodeJS.Signals) => {
  if (signalled) return; // already shutting down
  signalled = sig;
  say(`${sig} received, stopping`);
  abort.abort(new Error(`interrupted by ${sig}`));
  child?.kill(sig);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

async function main(): Promise<number> {
  const env = { ...process.env };
  if (process.env.CAIRN_TEST_S3_ENDPOINT) {
    say(`reusing S3 server ${process.env.CAIRN_TEST_S3_ENDPOINT}`);
  } else {
    const started = Date.now();
    try {
      server = await startRgw({ log: verbose ? say : undefined, signal: abort.signal });
    } catch (error) {
      if (signalled) return signalled === 'SIGINT' ? 130 : 143;
      say(`failed to start RGW: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
    say(`RGW up at ${server.endpoint} in ${((Date.now() - started) / 1000).toFixed(1)} s (${server.dir})`);
    Object.assign(env, {
      CAIRN_TEST_S3_ENDPOINT: server.endpoint,
      CAIRN_TEST_S3_REGION: server.region,
      CAIRN_TEST_S3_ACCESS_KEY_ID: server.accessKeyId,
      CAIRN_TEST_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
      CAIRN_TEST_S3_OTHER_ACCESS_KEY_ID: server.otherAccessKeyId,
      CAIRN_TEST_S3_OTHER_SECRET_ACCESS_KEY: server.otherSecretAccessKey,
    });
  }
  if (signalled) return signalled === 'SIGINT' ? 130 : 143;

  return await new Promise<number>((resolve) => {
    const c = spawn(command as string, args, { stdio: 'inherit', env });
    child = c;
    c.on('error', (error) => {
      say(`cannot run ${command}: ${error.message}`);
      resolve(127);
    });
    c.on('exit', (code, sig) => {
      resolve(code ?? (sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 1));
    });
  });
}

let code = 1;
try {
  code = await main();
} finally {
  if (server) {
    const t = Date.now();
    await server.stop().catch((error: unknown) => say(`stopping RGW failed: ${String(error)}`));
    if (verbose) say(`RGW stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
}
process.exit(code);
