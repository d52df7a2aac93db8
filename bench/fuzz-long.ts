import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { addOperator, freePort, login, request } from '../test/helpers/api.js';
import { addKey, startClient, startServer, tempDir, type Proc } from '../test/helpers/harness.js';
import {
  clusterRpcProperty,
  decoderProperties,
  httpProperty,
  rawSocketProperty,
  websocketProperty,
  type LiveTarget,
  type NamedProperty,
} from '../test/security-fuzz-properties.js';

/**
 * `npm run fuzz [-- options]`: the properties of test/security-fuzz.test.ts for minutes rather than
 * seconds. Not part of `npm test`. Every decoder property, then every live-server property against a
 * real primary (with a cluster secret, a key, an admin, an operator and a connected client), each
 * for its share of the time. Prints one JSON line per property; exits 1 with the counterexample and
 * the seed to replay it if any property fails, or if the server logged an error or went down.
 *
 *   --seconds N   total time (default 300, or SB_FUZZ_SECONDS)
 *   --seed N      fast-check seed (default: random; printed, so a failure can be replayed)
 *   --only TEXT   run only the properties whose name contains TEXT
 */
const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: process.env.SB_FUZZ_SECONDS ?? '300' },
    seed: { type: 'string' },
    only: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('--seconds must be a positive number');
const seed = flags.seed !== undefined ? Number(flags.seed) : Math.floor(Math.random() * 2 ** 31);

async function liveTarget(dir: string): Promise<{ target: LiveTarget; procs: Proc[] }> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const server = await startServer(
    join(dir, 'data'),
    ['--role', 'primary', '--advertise', address],
    { SWITCHBOARD_CLUSTER_SECRET: 'fuzz-long-cluster-secret-0123456789' },
    address,
  );
  const key = await addKey(server.data, 'fuzz');
  await addOperator(server.data, 'admin', 'fuzz-admin-password', 'admin');
  await addOperator(server.data, 'ops', 'fuzz-ops-password', 'operator', ['fuzz']);
  const client = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'fuzz-box',
    '--state',
    join(dir, 'state'),
    '--allow-forward',
    '9',
  ]);
  const tokens = [
    undefined,
    (await login(server.address, 'admin', 'fuzz-admin-password')).token,
    (await login(server.address, 'ops', 'fuzz-ops-password')).token,
  ];
  return { target: { address: server.address, tokens, key }, procs: [server.proc, client] };
}

async function run(named: NamedProperty, budgetMs: number): Promise<boolean> {
  const started = Date.now();
  const details = await fc.check(named.property as fc.IAsyncProperty<unknown>, {
    seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: budgetMs,
    markInterruptAsFailure: false,
  });
  const line = {
    property: named.name,
    runs: details.numRuns,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    failed: details.failed,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
  if (details.failed) {
    process.stdout.write(
      `${fc.defaultReportMessage(details) ?? ''}\n${details.errorInstance instanceof Error ? details.errorInstance.message : ''}\n`,
    );
  }
  return !details.failed;
}

const dir = tempDir('sb-fuzz-long-');
const { target, procs } = await liveTarget(dir.path);
const server = procs[0]!;
// Interrupted (Ctrl-C, a CI timeout): take the server and the client down too.
const interrupted = () => {
  for (const p of procs) p.child.kill('SIGTERM');
  dir.remove();
  process.exit(130);
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);
const live: NamedProperty[] = [
  { name: 'HTTP: every route, random requests', property: httpProperty(target) },
  { name: 'HTTP: cluster requests', property: clusterRpcProperty(target) },
  { name: 'WebSocket: every channel, random messages', property: websocketProperty(target) },
  { name: 'raw sockets: random bytes, mangled requests', property: rawSocketProperty(target) },
];
const all = [...decoderProperties(), ...live].filter((p) => !flags.only || p.name.includes(flags.only));
// Live properties are slower per run: they get twice the share of a decoder property.
const shares = all.map((p) => (live.includes(p) ? 2 : 1));
const unit = (seconds * 1000) / shares.reduce((a, b) => a + b, 0);
process.stdout.write(
  JSON.stringify({ fuzz: 'start', seconds, seed, properties: all.length, server: target.address }) + '\n',
);
let ok = true;
try {
  for (const [i, p] of all.entries()) {
    ok = (await run(p, unit * shares[i]!)) && ok;
    // A turn of the event loop between properties, so that Ctrl-C is heard.
    await new Promise((r) => setImmediate(r));
  }
  const health = await request(target.address, 'GET', '/healthz').catch(() => ({ status: 0 }));
  const errors = server.lines.filter((l) => Number(l.level) >= 50);
  if (health.status !== 200 || server.child.exitCode !== null) {
    ok = false;
    process.stdout.write(
      `the server is down (healthz ${health.status}, exit ${server.child.exitCode}): ${server.stderr.slice(-2000)}\n`,
    );
  }
  if (errors.length) {
    ok = false;
    process.stdout.write(`the server logged errors: ${JSON.stringify(errors.slice(0, 5))}\n`);
  }
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  dir.remove();
}
process.stdout.write(JSON.stringify({ fuzz: ok ? 'passed' : 'FAILED', seed }) + '\n');
process.exit(ok ? 0 : 1);
