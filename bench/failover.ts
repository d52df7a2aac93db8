import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlClient } from '../src/control/controlClient.js';
import { plainDial } from '../src/net/dial.js';
import { Proc, ROOT, runCli, tempDir } from '../test/helpers/harness.js';

/**
 * Failover at scale (issues 4 and 7): N real clients (several `bench clients` processes) on a
 * primary, a secondary and a member; kill -9 of the primary; how long until the secondary lets a
 * control browse every one of them, and how many are missing at 10 s.
 *
 *   node dist/bench/failover.js [--clients 10000] [--per-process 2500] [--out FILE]
 */
const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    'per-process': { type: 'string', default: '2500' },
    out: { type: 'string' },
  },
});

const SECRET = 'bench-failover-secret-0123456789';
const KEY = 'bench-failover-key-0123456789';
const PORT = 29443;
const PRIMARY = `127.0.70.11:${PORT}`;
const SECONDARY = `127.0.70.12:${PORT}`;
const MEMBER = `127.0.70.13:${PORT}`;
const env = { SWITCHBOARD_CLUSTER_SECRET: SECRET };

async function cli(args: string[]): Promise<void> {
  const result = await runCli(args);
  if (result.code !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
}

async function browseCount(gateway: string): Promise<number> {
  const control = await ControlClient.connect({ gateway, key: KEY, dial: plainDial });
  try {
    return (await control.browse()).length;
  } finally {
    control.close();
  }
}

export async function runFailoverBench(total: number, perProcess: number): Promise<Record<string, unknown>> {
  const dir = tempDir('sb-bench-failover-');
  const procs: Proc[] = [];
  const start = (args: string[]) => {
    const p = new Proc(args, env);
    procs.push(p);
    return p;
  };
  try {
    const p = join(dir.path, 'p');
    await cli(['config', '--data', p, 'key', 'add', 'k', '--value', KEY]);
    await cli(['config', '--data', p, 'set', 'heartbeat', '5']);
    await cli(['config', '--data', p, 'set', 'admission-rate', '5000']);
    await cli(['config', '--data', p, 'server', 'add', SECONDARY, '--weight', '1000', '--secondary']);
    await cli(['config', '--data', p, 'server', 'add', MEMBER, '--weight', '1000']);
    const primary = start(['server', '--data', p, '--role', 'primary', '--listen', PRIMARY, '--log-level', 'warn']);
    await primary.waitForLine(() => true, 'primary up').catch(() => undefined);
    for (const [name, address] of [['s', SECONDARY], ['m', MEMBER]] as const) {
      start(['server', '--data', join(dir.path, name), '--role', 'member', '--primary', PRIMARY, '--listen', address, '--log-level', 'warn']);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const benches: Proc[] = [];
    for (let i = 0; i * perProcess < total; i++) {
      const count = Math.min(perProcess, total - i * perProcess);
      benches.push(start(['bench', 'clients', '--gateway', PRIMARY, '--secondary', SECONDARY, '--key', KEY, '--count', String(count), '--prefix', `f${i}`, '--interval', '1']));
    }
    const connectStarted = Date.now();
    await Promise.all(benches.map((b) => b.waitForMsg('all connected', 300_000)));
    const connectMs = Date.now() - connectStarted;
    const before = await browseCount(PRIMARY);
    process.stderr.write(`failover bench: ${before} clients browsable on the primary after ${connectMs} ms; killing the primary\n`);

    primary.child.kill('SIGKILL');
    const killedAt = Date.now();
    let atTenSeconds: number | undefined;
    let allAfterMs: number | undefined;
    let last = 0;
    while (Date.now() - killedAt < 60_000) {
      last = await browseCount(SECONDARY).catch(() => last);
      const elapsed = Date.now() - killedAt;
      if (elapsed <= 10_000) atTenSeconds = last;
      if (last >= total) {
        allAfterMs = elapsed;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return { clients: total, connectMs, browsableBeforeKill: before, allBrowsableAfterMs: allAfterMs ?? null, browsableAt10s: atTenSeconds ?? last, missingAt10s: total - (atTenSeconds ?? last), targetMs: 10_000 };
  } finally {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    dir.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runFailoverBench(Number(flags.clients), Number(flags['per-process']));
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const out = flags.out ?? join(ROOT, 'bench', 'results', 'failover.json');
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2));
}
