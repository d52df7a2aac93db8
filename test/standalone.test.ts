/**
 * One standalone server with real processes: the first run (`npm start`'s --init), a plain server,
 * health and logs, the client agent's stable id, reconnection across server restarts (SIGTERM and
 * SIGKILL, same port), heartbeats finding a stopped client, and `bench clients` holding 200 clients.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  addKey,
  Proc,
  ROOT,
  runCli,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from './helpers/harness.js';
import { setSettingLive } from './helpers/api.js';
import { browse, controlCli, freePort, jsonOf, sleep, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-standalone-');
const procs: Proc[] = [];

after(async () => {
  await stopAll(procs);
  dir.remove();
});

async function server(data: string, args: string[] = [], listen?: string): Promise<RunningServer> {
  const s = await startServer(data, args, {}, listen);
  procs.push(s.proc);
  return s;
}

async function client(args: string[], wait = true): Promise<Proc> {
  const c = await startClient(args, wait);
  procs.push(c);
  return c;
}

function getJson(address: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}${path}`, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      })
      .on('error', reject);
  });
}

test('first run (npm start): --init creates a key and an admin operator, prints them once, and they work', async () => {
  // npm start is `switchboard server --data ./data --listen 127.0.0.1:8443 --init`; run the same
  // command with a temporary data directory and a free port.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const start = pkg.scripts.start!.split(/\s+/);
  // The bin itself, so that its shebang's node flag and malloc setting apply.
  assert.deepEqual(start.slice(0, 2), ['bin/switchboard.js', 'server']);
  assert.equal(start[start.indexOf('--listen') + 1], '127.0.0.1:8443');
  assert.equal(start[start.indexOf('--data') + 1], './data');
  assert.ok(start.includes('--init'));
  const args = start.slice(1);
  args[args.indexOf('--data') + 1] = `${dir.path}/first`;
  args[args.indexOf('--listen') + 1] = '127.0.0.1:0';

  const first = new Proc(args);
  procs.push(first);
  const listening = await first.waitForMsg('listening');
  const address = listening.address as string;
  await waitFor(() => /password \S+/.test(first.stderr), 'the credentials on stderr');
  const key = /key\s+default\s+(\S+)/.exec(first.stderr)?.[1];
  const password = /operator\s+admin\s+password\s+(\S+)/.exec(first.stderr)?.[1];
  assert.ok(key && password, `credentials printed: ${first.stderr}`);
  assert.ok(!first.stdout.includes(password), 'the password is not in the JSON log');
  assert.ok(!first.stdout.includes(key), 'the key is not in the JSON log');

  // They work: a client connects with the key, the admin logs in and browses it.
  const firstClient = await client([
    '--gateway',
    address,
    '--key',
    key,
    '--name',
    'first-run',
    '--state',
    `${dir.path}/first-client`,
  ]);
  const listed = await browse(address, key, { operator: 'admin', password });
  assert.deepEqual(
    listed.map((c) => c.name),
    ['first-run'],
  );
  // An operator now exists: a control must log in.
  const anonymous = await controlCli(address, key, ['browse']);
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /operator name and password required/);
  await stopAll([firstClient, first]);

  // The second run prints nothing and keeps the same credentials.
  const second = new Proc(args);
  procs.push(second);
  const again = await second.waitForMsg('listening');
  const ops = jsonOf<{ name: string; role: string }[]>(
    await runCli(['config', '--data', `${dir.path}/first`, 'operator', 'list', '--json']),
  );
  assert.deepEqual(
    ops.map((o) => [o.name, o.role]),
    [['admin', 'admin']],
  );
  const keys = jsonOf<{ name: string; value: string }[]>(
    await runCli(['config', '--data', `${dir.path}/first`, 'key', 'list', '--json']),
  );
  assert.deepEqual(
    keys.map((k) => [k.name, k.value]),
    [['default', key]],
  );
  await assert.doesNotReject(
    browse(again.address as string, key, { operator: 'admin', password }),
    'the printed credentials still work',
  );
  await stopAll([second]);
  assert.ok(!second.stderr.includes('password'), `second run printed: ${second.stderr}`);
  assert.ok(!second.stderr.includes(key));
});

test('a plain server creates no credentials and logs how to add a key', async () => {
  const data = `${dir.path}/plain`;
  const plain = await server(data);
  const warning = await plain.proc.waitForLine(
    (l) => typeof l.msg === 'string' && /no key/.test(l.msg),
    'the no-key warning',
  );
  assert.equal(warning.level, 40, 'logged as a warning');
  assert.match(String(warning.hint), /key add/);
  assert.equal(plain.proc.stderr, '', 'nothing printed on stderr');
  assert.deepEqual(jsonOf(await runCli(['config', '--data', data, 'key', 'list', '--json'])), []);
  assert.deepEqual(jsonOf(await runCli(['config', '--data', data, 'operator', 'list', '--json'])), []);
  // Every log line on stdout is JSON.
  for (const line of plain.proc.stdout.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);
  await stopAll([plain.proc]);
});

// ---- one server on a fixed port, for the client's life cycle ---------------------------------------

let main: RunningServer;
let mainKey: string;
let port: number;
const mainData = `${dir.path}/main`;

test('health: GET /healthz answers the role, acting and epoch', async () => {
  port = await freePort();
  mainKey = await addKey(mainData, 'main');
  main = await server(mainData, [], `127.0.0.1:${port}`);
  assert.equal(main.address, `127.0.0.1:${port}`);
  const health = await getJson(main.address, '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { role: 'standalone', acting: true, epoch: 0 });
  const missing = await getJson(main.address, '/no-such-page');
  assert.equal(missing.status, 404);
  assert.equal((missing.body as { error: { code: string } }).error.code, 'SB_ERR_NOT_FOUND');
});

test('client: its id is kept in --state across restarts', async () => {
  const state = `${dir.path}/stable`;
  const c1 = await client(['--gateway', main.address, '--key', mainKey, '--name', 'stable', '--state', state]);
  const first = (await browse(main.address, mainKey)).find((c) => c.name === 'stable');
  assert.ok(first);
  await stopAll([c1]);
  await waitFor(
    async () => !(await browse(main.address, mainKey)).some((c) => c.name === 'stable'),
    'the stopped client to leave browse',
  );
  await client(['--gateway', main.address, '--key', mainKey, '--name', 'stable', '--state', state]);
  const second = (await browse(main.address, mainKey)).find((c) => c.name === 'stable');
  assert.equal(second?.id, first.id);
  // Another state directory is another client.
  await client([
    '--gateway',
    main.address,
    '--key',
    mainKey,
    '--name',
    'stable-other',
    '--state',
    `${dir.path}/stable-other`,
  ]);
  const other = (await browse(main.address, mainKey)).find((c) => c.name === 'stable-other');
  assert.notEqual(other?.id, first.id);
});

test('client: reconnects after the server stops (SIGTERM) and after it is killed, on the same port', async () => {
  const c = await client([
    '--gateway',
    main.address,
    '--key',
    mainKey,
    '--name',
    'phoenix',
    '--state',
    `${dir.path}/phoenix`,
  ]);
  const id = (await browse(main.address, mainKey)).find((x) => x.name === 'phoenix')!.id;

  // SIGTERM: the server tells its clients and exits 0.
  let from = c.lines.length;
  assert.equal(await main.proc.stop('SIGTERM'), 0);
  const waiting = await c.waitForLine((l) => l.status === 'waiting', 'the client to notice', 15_000, from);
  assert.match(String(waiting.reason), /shutting down/);
  from = c.lines.length;
  main = await server(mainData, [], `127.0.0.1:${port}`);
  await c.waitForLine((l) => l.status === 'connected', 'the client to reconnect after a restart', 30_000, from);
  assert.ok((await browse(main.address, mainKey)).some((x) => x.id === id && x.name === 'phoenix'));

  // SIGKILL: no goodbye; the client finds out from the closed connection and keeps trying.
  from = c.lines.length;
  await main.proc.stop('SIGKILL');
  await c.waitForLine((l) => l.status === 'waiting', 'the client to notice the kill', 15_000, from);
  // Let it fail at least once against the dead port before the server comes back.
  await c.waitForLine(
    (l) => l.status === 'waiting' && /ECONNREFUSED|cannot reach/.test(String(l.reason)),
    'a failed retry',
    30_000,
    from,
  );
  from = c.lines.length;
  main = await server(mainData, [], `127.0.0.1:${port}`);
  await c.waitForLine((l) => l.status === 'connected', 'the client to reconnect after a kill', 30_000, from);
  assert.ok((await browse(main.address, mainKey)).some((x) => x.id === id));
  // Delays between attempts are jittered, never 0.
  const delays = c.lines.filter((l) => l.status === 'waiting').map((l) => l.delayMs as number);
  assert.ok(delays.length >= 3 && delays.every((d) => d > 0), JSON.stringify(delays));
});

test('heartbeat: a stopped client vanishes from browse and comes back when continued; one that answers stays', async () => {
  // `awake` connects first, before the heartbeat is shortened: the new timer must not drop it for
  // pings it was never sent. Any round that can find `sleepy` dead is at least the second since
  // the change, so `awake` has been pinged and checked by then.
  const from = main.proc.lines.length;
  const awake = await client([
    '--gateway',
    main.address,
    '--key',
    mainKey,
    '--name',
    'awake',
    '--state',
    `${dir.path}/awake`,
  ]);
  // A short heartbeat, set while the server runs (it reschedules its pings at once); 2 s, so that
  // a client process the loaded machine keeps waiting a second is not judged for it.
  const set = await runCli(['config', '--data', mainData, 'set', 'heartbeat', '2']);
  assert.equal(set.code, 0, set.stderr);
  const c = await client([
    '--gateway',
    main.address,
    '--key',
    mainKey,
    '--name',
    'sleepy',
    '--state',
    `${dir.path}/sleepy`,
  ]);
  const listed = await browse(main.address, mainKey);
  const id = listed.find((x) => x.name === 'sleepy')!.id;
  const awakeId = listed.find((x) => x.name === 'awake')!.id;
  c.child.kill('SIGSTOP');
  try {
    await main.proc.waitForLine(
      // One line a round, with the count and the first ids: never one line a client.
      (l) => l.msg === 'clients missed their heartbeat' && (l.clients as string[]).includes(id),
      'the server to notice the missed heartbeat',
      20_000,
      from,
    );
    await waitFor(
      async () => !(await browse(main.address, mainKey)).some((x) => x.name === 'sleepy'),
      'the stopped client to leave browse',
      20_000,
      200,
    );
  } finally {
    c.child.kill('SIGCONT');
  }
  // The client that answered its pings (the pong is what keeps it) was not dropped.
  assert.ok(
    !main.proc.lines
      .slice(from)
      .some(
        (l) =>
          (l.msg === 'clients missed their heartbeat' && (l.clients as string[]).includes(awakeId)) ||
          (l.client === awakeId && l.msg === 'client down'),
      ),
  );
  assert.ok((await browse(main.address, mainKey)).some((x) => x.id === awakeId));
  await awake.stop();
  await waitFor(
    async () => (await browse(main.address, mainKey)).some((x) => x.id === id),
    'the client to come back',
    30_000,
    200,
  );
  assert.equal((await runCli(['config', '--data', mainData, 'set', 'heartbeat', '30'])).code, 0);
});

test('connected clients are told a changed heartbeat: one welcomed with 1 s stays when it becomes 10 s', async () => {
  await setSettingLive(main, 'heartbeat', '1');
  // Welcomed with 1 s, it gives up on a server silent for 2.5 s ...
  const paced = await client([
    '--gateway',
    main.address,
    '--key',
    mainKey,
    '--name',
    'paced',
    '--state',
    `${dir.path}/paced`,
  ]);
  const from = paced.lines.length;
  // ... unless it is told that the pings now come 10 s apart.
  await setSettingLive(main, 'heartbeat', '10');
  await sleep(6000);
  assert.deepEqual(
    paced.lines
      .slice(from)
      .filter((l) => l.status !== undefined)
      .map((l) => `${String(l.status)} ${String(l.reason ?? '')}`),
    [],
    'the client did not reconnect',
  );
  await setSettingLive(main, 'heartbeat', '30');
  await paced.stop();
});

test('bench clients --count 200: all connect and show in browse', async () => {
  const bench = new Proc([
    'bench',
    'clients',
    '--gateway',
    main.address,
    '--key',
    mainKey,
    '--count',
    '200',
    '--prefix',
    'load',
    '--interval',
    '1',
  ]);
  procs.push(bench);
  const all = await bench.waitForMsg('all connected', 60_000);
  assert.equal(all.connected, 200);
  assert.deepEqual(all.byServer, { [main.address]: 200 });
  const names = await waitFor(async () => {
    const listed = new Set((await browse(main.address, mainKey)).filter((c) => c.group === 'load').map((c) => c.name));
    return listed.size === 200 && listed;
  }, 'all 200 in browse');
  for (let i = 0; i < 200; i++) assert.ok(names.has(`load-${i}`), `load-${i}`);
  // The CLI shows them too, and the server counts them.
  const viaCli = jsonOf<{ name: string }[]>(
    await controlCli(main.address, mainKey, ['browse', '--json', '--group', 'load']),
  );
  assert.ok(viaCli.length > 190 && viaCli.every((c) => names.has(c.name)), `${viaCli.length} in browse --json`);
  const info = jsonOf<{ clients: number }[]>(await controlCli(main.address, mainKey, ['servers', '--json']));
  assert.ok(info[0]!.clients > 190);
  await stopAll([bench]);
  await waitFor(
    async () => !(await browse(main.address, mainKey)).some((c) => c.group === 'load'),
    'the bench clients to leave',
  );
});
