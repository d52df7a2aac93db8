/**
 * The device registry's batch work (issue 20): a member's list of clients read with one query, an
 * unchanged device not rewritten, large writes in slices, and the cap on pending devices kept.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { DeviceRegistry, FLUSH_SLICE, MAX_PENDING_DEVICES, type DeviceChanges } from '../src/server/deviceRegistry.js';
import { Directory, type DirectoryEntry } from '../src/server/directory.js';
import { silentLogger } from '../src/server/logger.js';
import type { ConfigCache } from '../src/server/configCache.js';
import { ConfigStore } from '../src/store/configStore.js';
import type { DeviceRecord } from '../src/store/deviceStore.js';
import { tempDir } from './helpers/harness.js';

function entry(i: number, over: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return {
    id: `dev-${i}`,
    name: `pc-${i}`,
    group: 'g',
    platform: 'linux',
    address: '10.0.0.1',
    server: '127.0.0.1:1',
    connectedAt: new Date().toISOString(),
    key: 'k',
    ...over,
  };
}

function record(i: number, over: Partial<DeviceRecord> = {}): DeviceRecord {
  const e = entry(i);
  return {
    id: e.id,
    name: e.name,
    group: e.group,
    key: e.key,
    platform: e.platform,
    firstSeen: '2026-01-01T00:00:00.000Z',
    lastSeen: '2026-01-02T00:00:00.000Z',
    lastAddress: e.address,
    server: e.server,
    pending: false,
    ...over,
  };
}

function setup(approval = false) {
  const dir = tempDir();
  const store = ConfigStore.open(dir.path);
  const directory = new Directory();
  const config = { deviceRules: new Map(), settings: { 'device-approval': approval } } as unknown as ConfigCache;
  /** Whether this server acts as the primary (the registry records only then); a test may flip it. */
  let acting = true;
  const registry = new DeviceRegistry({
    store,
    config,
    directory,
    logger: silentLogger(),
    behaviour: { acting: () => ({ acting }) },
  });
  const flushed: DeviceChanges[] = [];
  registry.on('flushed', (c) => flushed.push(c));
  const tick = () => (registry as unknown as { tick(): void }).tick();
  const close = () => {
    registry.stop();
    store.close();
    dir.remove();
  };
  const setActing = (value: boolean) => (acting = value);
  return { store, directory, registry, flushed, tick, close, setActing };
}

test('store: a batch read gives what point reads give, absent ids left out', (t) => {
  const { store, close } = setup();
  t.after(close);
  store.devices.putMany([record(1), record(2, { pending: true }), record(3, { name: 'it\'s "quoted"' })]);
  const ids = ['dev-1', 'dev-2', 'dev-3', 'dev-9', "x' OR 1=1 --", 'dev-1'];
  const batch = store.devices.getMany(ids);
  for (const id of ids) assert.deepEqual(batch.get(id), store.devices.get(id));
  assert.equal(batch.size, 3);
  assert.equal(store.devices.getMany([]).size, 0);
});

test('registry: a client that arrives unchanged is not rewritten; a change is; leaving stamps lastSeen', (t) => {
  const { store, directory, registry, flushed, close } = setup();
  t.after(close);
  store.devices.putMany([record(1), record(2), record(3)]);
  directory.upsertMany([entry(1), entry(2), entry(3, { address: '10.0.0.9' })]);
  registry.flush();
  assert.equal(flushed.length, 1);
  assert.deepEqual(
    flushed[0]!.records.map((r) => r.id),
    ['dev-3'],
  );
  assert.equal(store.devices.get('dev-1')!.lastSeen, '2026-01-02T00:00:00.000Z');
  assert.equal(store.devices.get('dev-3')!.lastAddress, '10.0.0.9');
  assert.equal(store.devices.get('dev-3')!.firstSeen, '2026-01-01T00:00:00.000Z');
  directory.remove('dev-1');
  registry.flush();
  assert.notEqual(store.devices.get('dev-1')!.lastSeen, '2026-01-02T00:00:00.000Z');
  // A new device is recorded; seen again unchanged (one at a time or in a batch), it is not written again.
  directory.upsert(entry(4));
  registry.flush();
  const written = flushed.length;
  directory.upsert(entry(4));
  directory.upsertMany([entry(4), entry(2)]);
  registry.flush();
  assert.equal(flushed.length, written);
});

test('registry: a batch decides as one arrival at a time does (pending, names, repeats)', (t) => {
  const one = setup(true);
  const many = setup(true);
  t.after(() => {
    one.close();
    many.close();
  });
  for (const s of [one, many]) {
    s.store.devices.putMany([record(1), record(2, { pending: true })]);
    (s.registry as unknown as { host: { config: ConfigCache } }).host.config.deviceRules.set('dev-1', {
      id: 'dev-1',
      revoked: false,
      approved: false,
      name: 'admin-name',
    });
  }
  const arrivals = [entry(1), entry(2), entry(3), entry(3, { address: '10.0.0.2' }), entry(4)];
  const singly = arrivals.map((e) => one.registry.arrive(e));
  assert.deepEqual(many.registry.arriveMany(arrivals), singly);
  assert.deepEqual(
    singly.map((d) => [d.entry.name, d.hidden]),
    [
      ['admin-name', false],
      ['pc-2', true],
      ['pc-3', true],
      ['pc-3', true],
      ['pc-4', true],
    ],
  );
  one.registry.flush();
  many.registry.flush();
  const strip = (r: DeviceRecord[]) => r.map(({ firstSeen: _f, lastSeen: _l, ...rest }) => rest);
  assert.deepEqual(strip(many.store.devices.all()), strip(one.store.devices.all()));
});

test('registry: a large write goes in slices, all written, read back meanwhile, a removal kept', async (t) => {
  const { store, directory, registry, flushed, tick, close } = setup();
  t.after(close);
  const n = FLUSH_SLICE * 2 + 7;
  directory.upsertMany(Array.from({ length: n }, (_, i) => entry(i)));
  tick();
  assert.equal(flushed.length, 1, 'one slice written at once, the rest after the event loop turns');
  assert.ok(store.devices.count() < n);
  // Not yet in SQLite, yet known; forgotten meanwhile, it stays forgotten.
  assert.equal(registry.get(`dev-${n - 1}`)?.name, `pc-${n - 1}`);
  registry.forget(`dev-${n - 1}`);
  assert.equal(registry.get(`dev-${n - 1}`), undefined);
  while (store.devices.count() < n - 1) await once(registry, 'flushed');
  tick();
  assert.equal(store.devices.count(), n - 1);
  assert.equal(store.devices.get(`dev-${n - 1}`), undefined);
  for (const c of flushed) assert.ok(c.records.length + c.removed.length <= FLUSH_SLICE);
  const sent = new Set(flushed.flatMap((c) => c.records.map((r) => r.id)));
  assert.equal(sent.size, n, 'every record went to the followers');
});

test('registry: a full flush in the middle of slices writes the rest, and later slices write nothing twice', async (t) => {
  const { store, directory, registry, flushed, tick, close } = setup();
  t.after(close);
  const n = FLUSH_SLICE * 3;
  directory.upsertMany(Array.from({ length: n }, (_, i) => entry(i)));
  tick();
  registry.flush();
  assert.equal(store.devices.count(), n);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(
    flushed.reduce((sum, c) => sum + c.records.length, 0),
    n,
  );
});

test('registry: the cap on pending devices holds across batches and slices', async (t) => {
  const { store, directory, registry, tick, close } = setup(true);
  t.after(close);
  directory.upsertMany(Array.from({ length: MAX_PENDING_DEVICES - 10 }, (_, i) => entry(i)));
  tick(); // slices under way: the ones being written still count
  directory.upsertMany(Array.from({ length: 50 }, (_, i) => entry(MAX_PENDING_DEVICES + i)));
  registry.flush();
  assert.equal(store.devices.pendingCount(), MAX_PENDING_DEVICES);
  directory.upsert(entry(MAX_PENDING_DEVICES * 2));
  registry.flush();
  assert.equal(store.devices.pendingCount(), MAX_PENDING_DEVICES);
  assert.equal(directory.isHidden(`dev-${MAX_PENDING_DEVICES * 2}`), true, 'held, hidden, not recorded');
});

test('registry: on becoming the acting primary it records the clients already here a slice a turn, skipping those gone meanwhile', async (t) => {
  const { store, directory, registry, tick, close, setActing } = setup();
  t.after(close);
  setActing(false);
  const n = FLUSH_SLICE * 2 + 5;
  // Arrived while this server was a member: nothing recorded.
  directory.upsertMany(Array.from({ length: n }, (_, i) => entry(i)));
  tick();
  assert.equal(store.devices.count(), 0);

  setActing(true); // the take-over
  tick();
  assert.ok(registry.get('dev-0'), 'the first slice is recorded at once');
  assert.equal(registry.get(`dev-${n - 1}`), undefined, 'the last slice waits for its turn of the event loop');
  // It leaves before its slice comes: never recorded as here.
  directory.remove(`dev-${n - 1}`);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  tick();
  while (registry.get(`dev-${n - 2}`) === undefined || store.devices.count() < n - 1)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(store.devices.count(), n - 1);
  assert.equal(store.devices.get(`dev-${n - 1}`), undefined);
});

test('registry: a role that says it became acting has the clients here recorded once; later arrivals are not read again', async (t) => {
  const { store, directory, registry, tick, close, setActing } = setup();
  t.after(close);
  setActing(false);
  const read: string[] = [];
  const getMany = store.devices.getMany.bind(store.devices);
  store.devices.getMany = (ids) => {
    read.push(...ids);
    return getMany(ids);
  };
  directory.upsertMany([entry(0), entry(1)]); // here before the takeover
  read.length = 0;
  setActing(true);
  registry.becameActing();
  // What a takeover lists after it (the secondary's copy) goes through the gate, which records it.
  directory.upsertMany([entry(2), entry(3)]);
  tick();
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(read.sort(), ['dev-0', 'dev-1', 'dev-2', 'dev-3'], 'each read once from the takeover on');
  registry.flush();
  assert.equal(store.devices.count(), 4);
});

test('registry: a member’s clients all leaving at once are stamped a slice a turn, not in one go; one back meanwhile keeps its arrival', async (t) => {
  const { store, directory, registry, close } = setup();
  t.after(close);
  const n = FLUSH_SLICE * 2 + 5;
  const old = '2026-01-02T00:00:00.000Z';
  store.devices.putMany(Array.from({ length: n }, (_, i) => record(i, { server: 'm:1' })));
  directory.upsertMany(Array.from({ length: n }, (_, i) => entry(i, { server: 'm:1' })));
  registry.flush();
  assert.equal(directory.dropServer('m:1'), n, 'the member’s link is lost');
  assert.equal(registry.get('dev-0')!.lastSeen, old, 'no SQLite read in the drop itself');
  directory.upsert(entry(n - 1, { server: 'm:2', address: '10.0.0.7' })); // back on another server
  await new Promise((r) => setImmediate(r));
  assert.notEqual(registry.get('dev-0')!.lastSeen, old, 'the first slice is stamped at the next turn');
  assert.equal(registry.get(`dev-${n - 2}`)!.lastSeen, old, 'the last slice waits for its turn');
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < n - 1; i++) assert.notEqual(registry.get(`dev-${i}`)!.lastSeen, old, `dev-${i} stamped`);
  const back = registry.get(`dev-${n - 1}`)!;
  assert.equal(back.server, 'm:2', 'the one back keeps the record of its arrival');
  assert.equal(back.lastAddress, '10.0.0.7');
});
