import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newIdentity } from '../src/client/identity.js';
import { ConfigCache } from '../src/server/configCache.js';
import { ConfigStore } from '../src/store/configStore.js';
import type { DeviceRecord } from '../src/store/deviceStore.js';
import { StoreDeviceTarget } from '../src/store/storeDeviceTarget.js';
import { tempDir } from '../test/helpers/harness.js';
import { cpuDelta, cpuSnapshot } from './cpuTime.js';
import { runGenerators } from './generators.js';
import { stopAll, SwitchboardProcess } from './processes.js';
import { median, round, table } from './stats.js';

/**
 * Issue 17's scale figure: what 60,000 known devices cost the hello path. A standalone server on a
 * store with no devices, and the same on a store with 60,000 device records and 60,000 device rules
 * (approved, named, 1,000 revoked), each take the same number of real clients (real hellos: key
 * proof, revoke check, identity signature, welcome, the device recorded); the figure is the
 * server's CPU per hello, median over rounds that take turns, and the ratio of the two. Also timed
 * in-process: the device list of 60,000, and a configuration reload with 60,000 rules.
 *
 *   node dist/bench/deviceHello.js [--clients 3000] [--rounds 3] [--devices 60000]
 *   npm run bench -- --only device-hello [--quick]
 */
const KEY = 'bench-devices-key-0123456789abcdef';
const HOST = '127.0.91.21';
const PORT = 29621;

function seed(data: string, devices: number): void {
  const store = ConfigStore.open(data);
  store.addKey('k1', KEY);
  store.setSetting('admission-rate', '100000');
  store.setSetting('max-connections-per-address', '1000000');
  if (devices > 0) {
    const now = new Date().toISOString();
    const records: DeviceRecord[] = [];
    for (let i = 0; i < devices; i++)
      records.push({
        id: newIdentity().id,
        name: `machine-${i}`,
        group: `g${i % 20}`,
        key: 'k1',
        platform: 'linux 6.1',
        firstSeen: now,
        lastSeen: now,
        lastAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        server: `${HOST}:${PORT}`,
        pending: false,
      });
    store.devices.putMany(records);
    store.changeConfig(() => {
      records.forEach((d, i) =>
        store.deviceRules.put({ id: d.id, revoked: i < 1000, approved: true, name: i % 2 ? `named-${i}` : null }),
      );
    });
  }
  store.close();
}

async function round1(data: string, clients: number, prefix: string): Promise<number> {
  const server = new SwitchboardProcess(['server', '--data', data, '--listen', `${HOST}:${PORT}`]);
  await server.waitForLine((l) => l.msg === 'listening', 'listening');
  const pid = server.child.pid!;
  const before = cpuSnapshot([pid]);
  const run = await runGenerators({
    kind: 'switchboard',
    target: `${HOST}:${PORT}`,
    key: KEY,
    count: clients,
    processes: 1,
    concurrency: 50,
    prefix,
  });
  const cpu = cpuDelta(before, cpuSnapshot([pid]))?.[0] ?? NaN;
  await run.stop();
  await server.stop();
  return cpu / clients;
}

export interface DeviceHelloOptions {
  clients: number;
  rounds: number;
  devices: number;
  log: (line: string) => void;
}

export interface DeviceHelloResult {
  clients: number;
  rounds: number;
  devices: number;
  seedMs: number;
  listMs: number;
  listed: number;
  configReloadMs: number;
  helloCpuMsWithout: number;
  helloCpuMsWith: number;
  ratio: number;
  roundsWithout: number[];
  roundsWith: number[];
}

export async function runDeviceHello(opts: DeviceHelloOptions): Promise<DeviceHelloResult> {
  const { clients, rounds, devices } = opts;
  const dir = tempDir('sb-bench-devices-');
  const empty = join(dir.path, 'empty');
  const full = join(dir.path, 'full');
  try {
    seed(empty, 0);
    const t0 = performance.now();
    seed(full, devices);
    const seedMs = performance.now() - t0;
    const store = ConfigStore.open(full);
    let t = performance.now();
    const listed = await new StoreDeviceTarget(store, 'bench').devices();
    const listMs = performance.now() - t;
    t = performance.now();
    new ConfigCache(store);
    const reloadMs = performance.now() - t;
    store.close();
    const without: number[] = [];
    const withDevices: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Take turns going first: the machine warms up, and other load comes and goes.
      const order = r % 2 === 0 ? ([empty, full] as const) : ([full, empty] as const);
      for (const data of order) {
        const ms = await round1(data, clients, `r${r}-${data === full ? 'f' : 'e'}-`);
        (data === full ? withDevices : without).push(ms);
        opts.log(
          `  round ${r + 1}: ${data === full ? `${devices} devices` : 'no devices'}: ${round(ms, 3)} ms CPU per hello`,
        );
      }
    }
    return {
      clients,
      rounds,
      devices,
      seedMs: round(seedMs, 0),
      listMs: round(listMs, 0),
      listed: listed.length,
      configReloadMs: round(reloadMs, 0),
      helloCpuMsWithout: round(median(without), 3),
      helloCpuMsWith: round(median(withDevices), 3),
      ratio: round(median(withDevices) / median(without), 3),
      roundsWithout: without.map((x) => round(x, 3)),
      roundsWith: withDevices.map((x) => round(x, 3)),
    };
  } finally {
    dir.remove();
  }
}

/** The `device-hello` section of `npm run bench`: 3,000 clients x 3 rounds; --quick 500 x 1 (still 60,000 devices). */
export async function deviceHelloSection(
  quick: boolean,
  log: (line: string) => void,
): Promise<{ json: DeviceHelloResult; text: string }> {
  const result = await runDeviceHello({ clients: quick ? 500 : 3000, rounds: quick ? 1 : 3, devices: 60_000, log });
  const text = [
    `Device checks at hello: server CPU per hello, ${result.clients} clients per round, median of ${result.rounds} round(s); store with ${result.devices} devices and rules against an empty one (ms)`,
    table(
      ['devices', 'CPU ms/hello', 'ratio', 'rounds', 'device list ms', 'config reload ms'],
      [
        [0, result.helloCpuMsWithout, 1, result.roundsWithout.join(','), '-', '-'],
        [
          result.devices,
          result.helloCpuMsWith,
          result.ratio,
          result.roundsWith.join(','),
          result.listMs,
          result.configReloadMs,
        ],
      ],
    ),
  ].join('\n');
  return { json: result, text };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
      devices: { type: 'string', default: '60000' },
    },
  });
  try {
    const result = await runDeviceHello({
      clients: Number(values.clients),
      rounds: Number(values.rounds),
      devices: Number(values.devices),
      log: (line) => process.stderr.write(line + '\n'),
    });
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    await stopAll();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
