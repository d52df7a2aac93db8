import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import { plainDial } from '../src/net/dial.js';
import { Proc, runCli, tempDir, waitFor } from './helpers/harness.js';

/**
 * A standby of a standalone server (issue 4): it replicates the configuration, refuses clients and
 * controls while the primary is up, serves them while it is unreachable, and hands the clients back
 * when it returns. Real processes on 127.0.60.x; the primary is killed with -9.
 */
const SECRET = '0123456789abcdef-standby-secret';
const KEY = 'keyvalue-standby-0123456789';
const PRIMARY = '127.0.60.11:29443';
const STANDBY = '127.0.60.12:29443';
const env = { SWITCHBOARD_CLUSTER_SECRET: SECRET };
const dir = tempDir('sb-standby-');
const procs: Proc[] = [];
let primary: Proc;
let bench: Proc;

function start(args: string[]): Proc {
  const proc = new Proc(args, env);
  procs.push(proc);
  return proc;
}

async function startPrimary(): Promise<Proc> {
  const proc = start(['server', '--data', `${dir.path}/p`, '--listen', PRIMARY]);
  await proc.waitForMsg('listening');
  return proc;
}

async function control(gateway: string): Promise<ControlClient> {
  return ControlClient.connect({ gateway, key: KEY, dial: plainDial });
}

/** The latest bench status line: how many clients are connected, and where. */
function benchStatus(): { connected: number; byServer: Record<string, number> } | undefined {
  const lines = bench.lines.filter((l) => l.msg === 'bench clients' || l.msg === 'all connected');
  return lines.at(-1) as { connected: number; byServer: Record<string, number> } | undefined;
}

before(async () => {
  const ok = async (args: string[]) => assert.equal((await runCli(args)).code, 0, args.join(' '));
  await ok(['config', '--data', `${dir.path}/p`, '--create', 'key', 'add', 'k1', '--value', KEY]);
  await ok(['config', '--data', `${dir.path}/p`, 'set', 'heartbeat', '1']);
  primary = await startPrimary();
  const standby = start([
    'server',
    '--data',
    `${dir.path}/s`,
    '--role',
    'standby',
    '--primary',
    PRIMARY,
    '--listen',
    STANDBY,
  ]);
  await standby.waitForMsg('linked to the acting primary');
  bench = start([
    'bench',
    'clients',
    '--gateway',
    PRIMARY,
    '--secondary',
    STANDBY,
    '--key',
    KEY,
    '--count',
    '40',
    '--allow-exec',
    '--interval',
    '0.5',
  ]);
  await bench.waitForMsg('all connected', 30_000);
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  dir.remove();
});

test('while the primary is up, the standby holds a replicated copy and sends clients and controls to the primary', async () => {
  const keys = await runCli(['config', '--data', `${dir.path}/s`, 'key', 'list', '--json']);
  assert.deepEqual(
    (JSON.parse(keys.stdout) as { name: string }[]).map((k) => k.name),
    ['k1'],
  );
  assert.deepEqual(benchStatus()?.byServer, { [PRIMARY]: 40 });
  await assert.rejects(control(STANDBY), /browse the primary 127\.0\.60\.11:29443/);
  const write = await runCli(['config', '--data', `${dir.path}/s`, 'key', 'add', 'k2']);
  assert.notEqual(write.code, 0);
  assert.match(write.stderr, /primary 127\.0\.60\.11:29443/);
});

test('when the primary dies, the standby serves every client and answers controls; when it returns, clients go back', async () => {
  primary.child.kill('SIGKILL');
  await primary.exited;
  await waitFor(() => benchStatus()?.byServer[STANDBY] === 40 && benchStatus(), 'all clients on the standby', 30_000);
  const ctl = await control(STANDBY);
  try {
    assert.equal((await ctl.browse()).length, 40);
    const servers = await ctl.servers();
    assert.deepEqual(
      servers.map((s) => [s.address, s.status, s.clients]),
      [
        [PRIMARY, 'down', 0],
        [STANDBY, 'up', 40],
      ],
    );
  } finally {
    ctl.close();
  }
  primary = await startPrimary();
  await waitFor(
    () => benchStatus()?.byServer[PRIMARY] === 40 && benchStatus(),
    'all clients back on the primary',
    30_000,
  );
  const back = await control(PRIMARY);
  try {
    assert.equal((await back.browse()).length, 40);
  } finally {
    back.close();
  }
  await assert.rejects(control(STANDBY), /browse the primary/);
});
