/**
 * Unit tests of the pure pieces the standalone server is built from: login lockout, reconnect
 * backoff, the client directory, single-use tickets, the client's local policy, key proofs, client
 * identities, and the small parsers of the CLI. No sockets, no processes; clocks are passed in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Backoff } from '../src/net/backoff.js';
import { newIdentity } from '../src/client/identity.js';
import { checkPolicy, type LocalPolicy } from '../src/client/policy.js';
import { parsePorts } from '../src/cli/common.js';
import { clientBatches } from '../src/cluster/clientBatches.js';
import { ClientChanges } from '../src/cluster/clientChanges.js';
import { Directory, toClientInfo, type DirectoryEntry } from '../src/server/directory.js';
import { MemberToPrimary } from '../src/protocol/clusterMessages.js';
import { decode, MAX_MESSAGE_BYTES } from '../src/protocol/messages.js';
import { parseForwardSpec } from '../src/control/forward.js';
import { verifyIdentity } from '../src/protocol/clientIdentity.js';
import { findProvenKey, keyProof, newNonce } from '../src/protocol/proof.js';
import { LoginLimiter } from '../src/server/loginLimiter.js';
import { TicketTable } from '../src/server/tickets.js';
import { TokenBucket } from '../src/server/tokenBucket.js';
import { ConfigStore } from '../src/store/configStore.js';
import { hashPassword, verifyPassword } from '../src/store/passwords.js';
import { parseSetting } from '../src/store/settings.js';

// ---- LoginLimiter ------------------------------------------------------------------------------------

test('LoginLimiter: free attempts, then a lock that doubles, capped', () => {
  const limiter = new LoginLimiter(3, 60_000);
  const who = ['op:alice', 'ip:10.0.0.1'];
  let now = 1_000_000;
  limiter.fail(who, now);
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 0, 'two failures of three free: not locked');
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 1000, 'the third failure locks for 1 s');
  assert.equal(limiter.lockedFor(who, now + 999), 1);
  assert.equal(limiter.lockedFor(who, now + 1000), 0, 'and then it is over');
  now += 1000;
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 2000, 'each further failure doubles the lock');
  now += 2000;
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 4000);
  for (let i = 0; i < 30; i++) limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 60_000, 'capped at the maximum');
});

test('LoginLimiter: any locked subject locks the attempt; success clears only the account', () => {
  const limiter = new LoginLimiter(1);
  const now = 5000;
  limiter.fail(['op:bob', 'ip:10.0.0.2'], now);
  assert.ok(limiter.lockedFor(['op:bob'], now) > 0);
  assert.ok(limiter.lockedFor(['op:carol', 'ip:10.0.0.2'], now) > 0, 'the address is locked for every account');
  assert.equal(limiter.lockedFor(['op:carol', 'ip:10.0.0.3'], now), 0, 'others are not');
  limiter.succeed('op:bob');
  assert.equal(limiter.lockedFor(['op:bob'], now), 0);
  assert.ok(limiter.lockedFor(['ip:10.0.0.2'], now) > 0);
  limiter.setFreeAttempts(5);
  const fresh = ['op:dave'];
  for (let i = 0; i < 4; i++) limiter.fail(fresh, now);
  assert.equal(limiter.lockedFor(fresh, now), 0, 'the free attempts follow the setting');
});

test('LoginLimiter: failures far apart are forgiven; a run of them locks', () => {
  const limiter = new LoginLimiter(3, 60_000);
  const who = ['ip:10.0.0.7'];
  let now = 0;
  // One typo a day, for a week: never locked.
  for (let day = 0; day < 7; day++) {
    now += 24 * 3600_000;
    limiter.fail(who, now);
    assert.equal(limiter.lockedFor(who, now), 0, `day ${day}`);
  }
  // Three in a row: locked.
  limiter.fail(who, now + 1);
  limiter.fail(who, now + 2);
  assert.ok(limiter.lockedFor(who, now + 2) > 0);
});

test('LoginLimiter: the lock never shrinks as failures grow (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 40 }), (free, failures) => {
      const limiter = new LoginLimiter(free, 15 * 60_000);
      let last = 0;
      for (let i = 1; i <= failures; i++) {
        limiter.fail(['s'], 0);
        const wait = limiter.lockedFor(['s'], 0);
        assert.ok(wait >= last);
        assert.equal(wait > 0, i >= free);
        assert.ok(wait <= 15 * 60_000);
        last = wait;
      }
    }),
  );
});

// ---- Backoff -----------------------------------------------------------------------------------------

test('Backoff: jittered delays between half and all of a step that doubles up to the maximum', () => {
  const low = new Backoff(500, 30_000, () => 0);
  assert.deepEqual(
    Array.from({ length: 9 }, () => low.next()),
    [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000],
  );
  const high = new Backoff(500, 30_000, () => 0.999999);
  assert.deepEqual(
    Array.from({ length: 8 }, () => high.next()),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
  high.reset();
  assert.equal(high.attempts, 0);
  assert.equal(high.next(), 500, 'reset starts over');
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 60 }),
      (base, max, randoms) => {
        let i = 0;
        const b = new Backoff(base, max, () => randoms[i++ % randoms.length]!);
        for (let n = 0; n < randoms.length; n++) {
          const step = Math.min(max, base * 2 ** Math.min(n, 30));
          const d = b.next();
          assert.ok(d >= Math.floor(step / 2) && d <= step, `${d} within [${step / 2}, ${step}]`);
        }
      },
    ),
  );
});

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

// ---- TicketTable -------------------------------------------------------------------------------------

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

test('TicketTable: a ticket is random, taken once, cancelled or expired for good', async () => {
  const table = new TicketTable(60_000);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const t = table.issue(
      () => undefined,
      () => undefined,
    );
    assert.match(t, /^[A-Za-z0-9_-]{32}$/, '192 random bits, URL-safe');
    assert.ok(!seen.has(t));
    seen.add(t);
  }
  table.clear();
  assert.equal(table.size, 0);

  const calls: string[] = [];
  const t1 = table.issue(
    () => calls.push('socket'),
    () => calls.push('expired'),
  );
  const taken = table.take(t1);
  assert.ok(taken);
  assert.equal(table.take(t1), undefined, 'a reused ticket finds nothing');
  assert.equal(table.take('forged'), undefined);
  assert.equal(table.take(''), undefined);
  const t2 = table.issue(
    () => calls.push('socket2'),
    () => calls.push('expired2'),
  );
  table.cancel(t2);
  assert.equal(table.take(t2), undefined, 'a cancelled ticket finds nothing');
  assert.equal(table.size, 0);

  // Expiry: the waiter hears of it, and the ticket is gone.
  const short = new TicketTable(20);
  let expiredTicket = '';
  const expired = new Promise<void>((resolve) => {
    expiredTicket = short.issue(
      () => assert.fail('not taken'),
      () => resolve(),
    );
  });
  const bound = setTimeout(() => undefined, 10_000); // keeps the loop alive; a failure bound only
  await expired;
  clearTimeout(bound);
  assert.equal(short.take(expiredTicket), undefined);
  assert.equal(short.size, 0);
  assert.deepEqual(calls, [], 'neither a taken nor a cancelled ticket calls its expiry');
});

// ---- local policy --------------------------------------------------------------------------------------

test('checkPolicy: only listed ports on the client itself, commands only with --allow-exec', () => {
  const policy: LocalPolicy = { allowForward: new Set([22, 8080]), allowExec: false };
  assert.equal(checkPolicy(policy, { kind: 'forward', port: 22 }), undefined);
  assert.equal(checkPolicy(policy, { kind: 'forward', port: 8080, host: 'localhost' }), undefined);
  assert.equal(checkPolicy(policy, { kind: 'forward', port: 8080, host: '127.0.0.1' }), undefined);
  assert.match(
    checkPolicy(policy, { kind: 'forward', port: 23 })!.message,
    /port 23 is not in this client's --allow-forward list/,
  );
  assert.match(
    checkPolicy(policy, { kind: 'forward', port: 22, host: '10.0.0.5' })!.message,
    /only to its own machine/,
  );
  const refused = checkPolicy(policy, { kind: 'exec', command: ['id'] });
  assert.equal(refused?.code, 'SB_ERR_POLICY_REFUSED');
  assert.match(refused!.message, /--allow-exec/);
  assert.equal(checkPolicy({ ...policy, allowExec: true }, { kind: 'exec', command: ['id'] }), undefined);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 10 }),
      fc.integer({ min: 1, max: 65535 }),
      (allowed, port) => {
        const result = checkPolicy({ allowForward: new Set(allowed), allowExec: false }, { kind: 'forward', port });
        assert.equal(result === undefined, allowed.includes(port));
        if (result) assert.equal(result.code, 'SB_ERR_POLICY_REFUSED');
      },
    ),
  );
});

// ---- proofs and identities ---------------------------------------------------------------------------

test('key proofs: bound to the key, the nonce, the purpose and the identity', () => {
  const keys = [
    { name: 'a', value: 'key-aaaaaaaa' },
    { name: 'b', value: 'key-bbbbbbbb' },
  ];
  const nonce = newNonce();
  const proof = keyProof('key-bbbbbbbb', 'client', nonce, 'id-1');
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-1', proof)?.name, 'b');
  assert.equal(findProvenKey(keys, 'client', newNonce(), 'id-1', proof), undefined, 'another nonce');
  assert.equal(findProvenKey(keys, 'control', nonce, 'id-1', proof), undefined, 'another purpose');
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-2', proof), undefined, 'another identity');
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-1', proof.slice(1)), undefined);
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-1', ''), undefined);
  assert.ok(!proof.includes('key-bbbbbbbb'));
});

test('client identities: the id is derived from the key pair and the signature is bound to the nonce', () => {
  const me = newIdentity();
  const other = newIdentity();
  assert.notEqual(me.id, other.id);
  const nonce = newNonce();
  assert.equal(verifyIdentity(me.id, me.publicKey, me.sign(nonce), nonce), true);
  assert.equal(verifyIdentity(me.id, me.publicKey, me.sign(nonce), newNonce()), false, 'replayed for another nonce');
  assert.equal(verifyIdentity(other.id, me.publicKey, me.sign(nonce), nonce), false, 'another id');
  assert.equal(verifyIdentity(me.id, other.publicKey, other.sign(nonce), nonce), false, 'another key');
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.string(), (pk, sig, n) => verifyIdentity(me.id, pk, sig, n) === false),
  );
});

// ---- small parsers ---------------------------------------------------------------------------------------

test('parseForwardSpec and parsePorts: what the CLI accepts and refuses', () => {
  assert.deepEqual(parseForwardSpec('2222:22'), { bindHost: '127.0.0.1', localPort: 2222, remotePort: 22 });
  assert.deepEqual(parseForwardSpec('0.0.0.0:0:80'), { bindHost: '0.0.0.0', localPort: 0, remotePort: 80 });
  for (const bad of ['22', '1:2:3:4', 'a:22', '22:0', '22:70000', '-1:22', '22:'])
    assert.throws(() => parseForwardSpec(bad), Error, bad);
  assert.deepEqual(parsePorts('22, 8080,443'), [22, 8080, 443]);
  assert.deepEqual(parsePorts(undefined), []);
  for (const bad of ['0', '65536', 'ssh', '22,,80', '1.5']) assert.throws(() => parsePorts(bad), /bad port/, bad);
});

test('settings: values are parsed and range-checked', () => {
  assert.equal(parseSetting('heartbeat', '1'), 1);
  assert.equal(parseSetting('require-tls', 'true'), true);
  assert.equal(parseSetting('require-tls', false), false);
  assert.equal(parseSetting('lockout-attempts', '3'), 3);
  for (const [name, value] of [
    ['heartbeat', '0'],
    ['heartbeat', 'x'],
    ['hello-timeout', '0.1'],
    ['lockout-attempts', '1.5'],
    ['require-tls', 'yes'],
  ] as const) {
    assert.throws(() => parseSetting(name, value), /invalid value/, `${name}=${value}`);
  }
});

test('passwords: scrypt hashes with a salt; only the right password verifies', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
  assert.notEqual(a, b, 'salted');
  assert.ok(!a.includes('correct horse'));
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horse!', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword('correct horse', 'plain-text'), false);
});

test('ConfigStore: every change bumps the version; keys and operators round-trip; errors are clear', async () => {
  const store = ConfigStore.memory();
  try {
    const v0 = store.version();
    store.addKey('k1', 'value-0001');
    assert.equal(store.version(), v0 + 1);
    assert.throws(() => store.addKey('k1', 'value-0002'), /exists already/);
    assert.equal(store.version(), v0 + 1, 'a refused change does not bump the version');
    store.putOperator({ name: 'op', passwordHash: await hashPassword('password-1'), role: 'operator', keys: ['k1'] });
    assert.deepEqual(
      store.operators().map((o) => [o.name, o.role, o.keys, o.hasTotp]),
      [['op', 'operator', ['k1'], false]],
    );
    assert.equal(store.operatorCount(), 1);
    store.setSetting('heartbeat', '5');
    assert.equal(store.settings().heartbeat, 5);
    assert.throws(() => store.setSetting('heartbeat', '-1'), /invalid value/);
    store.removeKey('k1');
    assert.throws(() => store.removeKey('k1'), /no key named k1/);
    assert.equal(store.version(), v0 + 4);
  } finally {
    store.close();
  }
});

// ---- TokenBucket (admission) -----------------------------------------------------------------------

test('TokenBucket: a burst is admitted, then the rate; each refusal gets its own slot, spread at the rate', () => {
  const bucket = new TokenBucket(100, 200, 0, 60_000);
  for (let i = 0; i < 200; i++) assert.equal(bucket.take(0), 0, 'the burst is admitted');
  // 1,000 callers at once beyond the burst: each told a later time, 10 ms apart (100 per second).
  const hints = Array.from({ length: 1000 }, () => bucket.take(0));
  assert.ok(hints.every((h) => h > 0));
  assert.deepEqual(hints.slice(0, 3), [10, 20, 30]);
  assert.equal(hints.at(-1), 10_000);
  // Callers that come back at their slot find a token.
  assert.equal(bucket.take(10), 0);
  assert.equal(bucket.take(20), 0);
  assert.equal(bucket.take(20), 10_010 - 20, 'one early caller goes behind the queue');
  // A backlog longer than the longest hint shares the last slot.
  const capped = new TokenBucket(1, 1, 0, 5000);
  capped.take(0);
  assert.deepEqual(
    Array.from({ length: 8 }, () => capped.take(0)),
    [1000, 2000, 3000, 4000, 5000, 5000, 5000, 5000],
  );
});
