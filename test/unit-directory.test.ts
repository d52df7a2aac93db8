// Unit tests of the client directory and of the batches and changes it is announced in.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clientBatches } from '../src/cluster/clientBatches.js';
import { ClientChanges } from '../src/cluster/clientChanges.js';
import { Directory, toClientInfo, type DirectoryEntry } from '../src/server/directory.js';
import { MemberToPrimary } from '../src/protocol/clusterMessages.js';
import { decode, MAX_MESSAGE_BYTES } from '../src/protocol/messages.js';

// ---- Directory ---------------------------------------------------------------------------------------

function entry(id: string, over: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return {
    id,
    name: id,
    group: '',
    platform: 'linux',
    address: '10.0.0.9',
    server: 's1:443',
    connectedAt: '2024-01-01T00:00:00.000Z',
    key: 'k1',
    ...over,
  };
}

test('Directory: upsert, remove guarded by server, list filtered by key, group and text, sorted', () => {
  const d = new Directory();
  d.upsert(entry('c', { name: 'web-2', group: 'web' }));
  d.upsert(entry('a', { name: 'web-1', group: 'web' }));
  d.upsert(entry('b', { name: 'db-1', group: 'db', key: 'k2' }));
  assert.equal(d.size, 3);
  assert.deepEqual(
    d.list().map((e) => e.name),
    ['db-1', 'web-1', 'web-2'],
  );
  assert.deepEqual(
    d.list({ keys: new Set(['k1']) }).map((e) => e.id),
    ['a', 'c'],
  );
  assert.deepEqual(d.list({ keys: new Set() }), [], 'no keys, no clients');
  assert.deepEqual(
    d.list({ group: 'db' }).map((e) => e.id),
    ['b'],
  );
  assert.deepEqual(
    d.list({ filter: 'WEB-2' }).map((e) => e.id),
    ['c'],
    'text filter ignores case',
  );
  assert.deepEqual(d.list({ keys: new Set(['k2']), filter: 'web' }), [], 'filters never cross keys');
  // A newer placement on another server wins over a late "down" from the old one.
  d.upsert(entry('a', { name: 'web-1', server: 's2:443' }));
  assert.equal(d.remove('a', 's1:443'), false);
  assert.equal(d.get('a')?.server, 's2:443');
  assert.equal(d.remove('a', 's2:443'), true);
  assert.equal(d.remove('a'), false);
  assert.deepEqual(Object.keys(toClientInfo(entry('x', { allowExec: true, allowForward: [22] }))).sort(), [
    'address',
    'connectedAt',
    'group',
    'id',
    'name',
    'platform',
    'server',
  ]);
});

test('Directory: resolve by id or unique name, within the caller keys only', () => {
  const d = new Directory();
  d.upsert(entry('id-1', { name: 'box' }));
  d.upsert(entry('id-2', { name: 'box' }));
  d.upsert(entry('id-3', { name: 'lone', key: 'k2' }));
  assert.equal(d.resolve('id-1').entry?.id, 'id-1');
  assert.deepEqual(d.resolve('box'), { ambiguous: 2 });
  assert.equal(d.resolve('lone').entry?.id, 'id-3');
  assert.deepEqual(d.resolve('lone', new Set(['k1'])), {}, 'a client of another key is not found');
  assert.deepEqual(d.resolve('id-3', new Set(['k1'])), {}, 'not even by id');
  assert.deepEqual(d.resolve('nobody'), {});
});

test('Directory: per-server counts always match the entries (model-based property)', () => {
  const servers = ['s1:1', 's2:1', 's3:1'];
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('upsert' as const),
      id: fc.integer({ min: 0, max: 12 }),
      server: fc.constantFrom(...servers),
    }),
    fc.record({
      kind: fc.constant('remove' as const),
      id: fc.integer({ min: 0, max: 12 }),
      server: fc.option(fc.constantFrom(...servers), { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant('replace' as const),
      server: fc.constantFrom(...servers),
      ids: fc.uniqueArray(fc.integer({ min: 0, max: 12 }), { maxLength: 6 }),
    }),
    fc.record({ kind: fc.constant('drop' as const), server: fc.constantFrom(...servers) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const d = new Directory();
      const model = new Map<string, string>();
      for (const o of ops) {
        if (o.kind === 'upsert') {
          d.upsert(entry(`c${o.id}`, { server: o.server }));
          model.set(`c${o.id}`, o.server);
        } else if (o.kind === 'remove') {
          const removed = d.remove(`c${o.id}`, o.server);
          const expected = model.has(`c${o.id}`) && (o.server === undefined || model.get(`c${o.id}`) === o.server);
          assert.equal(removed, expected);
          if (expected) model.delete(`c${o.id}`);
        } else if (o.kind === 'replace') {
          d.replaceServer(
            o.server,
            o.ids.map((i) => entry(`c${i}`, { server: o.server })),
          );
          for (const [id, s] of model) if (s === o.server && !o.ids.includes(Number(id.slice(1)))) model.delete(id);
          for (const i of o.ids) model.set(`c${i}`, o.server);
        } else {
          d.dropServer(o.server);
          for (const [id, s] of model) if (s === o.server) model.delete(id);
        }
        assert.equal(d.size, model.size);
        const counts = new Map<string, number>();
        for (const s of model.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
        assert.deepEqual(new Map([...d.countByServer()].sort()), new Map([...counts].sort()));
        for (const s of servers) assert.equal(d.clientsOn(s), counts.get(s) ?? 0);
      }
      assert.deepEqual(
        new Set(d.list().map((e) => `${e.id}@${e.server}`)),
        new Set([...model].map(([id, s]) => `${id}@${s}`)),
      );
    }),
  );
});

test('clientBatches: every entry once, in order, each batch one ordinary message; always a last batch', () => {
  assert.deepEqual(clientBatches([]), [[]]);
  const big = Array.from({ length: 3000 }, (_, i) =>
    entry(`c${i}`, { name: `client-with-a-longish-name-${i}`, allowForward: [22, 80, 443, 3389, 5900] }),
  );
  const batches = clientBatches(big);
  assert.ok(batches.length > 1);
  assert.deepEqual(
    batches.flat().map((e) => e.id),
    big.map((e) => e.id),
  );
  for (const entries of batches) {
    const message = JSON.stringify({ type: 'clients', entries, last: false });
    assert.ok(Buffer.byteLength(message) <= MAX_MESSAGE_BYTES, `${Buffer.byteLength(message)} bytes`);
    assert.equal(decode(MemberToPrimary, message).ok, true);
  }
  // An entry larger than the budget still travels, alone in its batch.
  assert.deepEqual(
    clientBatches([entry('a'), entry('b')], 10).map((b) => b.length),
    [1, 1],
  );
});

test('ClientChanges: per client its departure and its latest entry; batches fit one message; taking empties it', () => {
  const changes = new ClientChanges();
  assert.deepEqual(changes.take(), []);
  changes.up(entry('a', { name: 'first' }));
  changes.up(entry('a', { name: 'second' }));
  changes.up(entry('b'));
  changes.down('b');
  changes.down('c');
  changes.up(entry('c', { name: 'back' }));
  assert.equal(changes.size, 3);
  const [batch, ...more] = changes.take();
  assert.deepEqual(more, []);
  assert.deepEqual(batch!.down, ['b', 'c'], 'b left; c left and came back: its old sessions must still end');
  assert.deepEqual(
    batch!.up.map((e) => [e.id, e.name]),
    [
      ['a', 'second'],
      ['c', 'back'],
    ],
  );
  assert.equal(changes.size, 0);
  assert.deepEqual(changes.take(), []);
  // A reconnect storm's worth: several messages, each within the limit, nothing lost or doubled.
  for (let i = 0; i < 3000; i++)
    changes.up(entry(`u${i}`, { name: `client-with-a-longish-name-${i}`, allowForward: [22, 80, 443] }));
  for (let i = 0; i < 3000; i++) changes.down(`d${i}-${'x'.repeat(100)}`);
  const batches = changes.take();
  assert.ok(batches.length > 2);
  assert.equal(batches.flatMap((b) => b.up).length, 3000);
  assert.equal(new Set(batches.flatMap((b) => b.down)).size, 3000);
  for (const b of batches) {
    const message = JSON.stringify({ type: 'client-changes', ...b });
    assert.ok(Buffer.byteLength(message) <= MAX_MESSAGE_BYTES, `${Buffer.byteLength(message)} bytes`);
    assert.equal(decode(MemberToPrimary, message).ok, true);
  }
  changes.up(entry('z'));
  changes.clear();
  assert.deepEqual(changes.take(), []);
});
