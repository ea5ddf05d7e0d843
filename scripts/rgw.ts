// Developer convenience: a long-running RGW for fast test iterations.
//
//   eval "$(node scripts/rgw.ts start)"   # starts (or restarts) it, exports CAIRN_TEST_S3_*
//   node scripts/rgw.ts env               # prints the export lines again
//   node scripts/rgw.ts stop              # stops it and removes its dir
//
// Lives in $CAIRN_RGW_DEV_DIR (default /tmp/cairn-rgw-dev) on fixed ports
// $CAIRN_RGW_DEV_PORT (default 7480) and $CAIRN_RGW_DEV_MON_PORT (default 3380),
// so it does not collide with the free ports that scripts/with-services.ts picks.

import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRgw, stopRgwDir } from '../test/support/rgw.ts';

const dir = process.env.CAIRN_RGW_DEV_DIR ?? '/tmp/cairn-rgw-dev';
const port = Number(process.env.CAIRN_RGW_DEV_PORT ?? 7480);
const monPort = Number(process.env.CAIRN_RGW_DEV_MON_PORT ?? 3380);
const envFile = join(dir, 'env.sh');
const say = (line: string) => console.error(line);

const action = process.argv[2];
switch (action) {
  case 'start': {
    const started = Date.now();
    const server = await startRgw({ dir, port, monPort, log: say, persistent: true });
    const lines = [
      `export CAIRN_TEST_S3_ENDPOINT=${server.endpoint}`,
      `export CAIRN_TEST_S3_REGION=${server.region}`,
      `export CAIRN_TEST_S3_ACCESS_KEY_ID=${server.accessKeyId}`,
      `export CAIRN_TEST_S3_SECRET_ACCESS_KEY=${server.secretAccessKey}`,
      `export CAIRN_TEST_S3_OTHER_ACCESS_KEY_ID=${server.otherAccessKeyId}`,
      `export CAIRN_TEST_S3_OTHER_SECRET_ACCESS_KEY=${server.otherSecretAccessKey}`,
    ].join('\n');
    await writeFile(envFile, `${lines}\n`);
    say(`rgw: up in ${((Date.now() - started) / 1000).toFixed(1)} s; stop with: node scripts/rgw.ts stop`);
    console.log(lines);
    break;
  }
  case 'env': {
    if (!existsSync(envFile)) {
      say(`rgw: not running (no ${envFile}); run: eval "$(node scripts/rgw.ts start)"`);
      process.exit(1);
    }
    process.stdout.write(await readFile(envFile, 'utf8'));
    break;
  }
  case 'stop': {
    await stopRgwDir(dir, say);
    say(`rgw: stopped, removed ${dir}`);
    break;
  }
  default:
    say('usage: node scripts/rgw.ts start|env|stop');
    process.exit(2);
}
