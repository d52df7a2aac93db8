import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chooseServer, PendingPlacements, type Candidate } from '../src/cluster/placement.js';

const server = (address: string, weight: number, clients = 0, more: Partial<Candidate> = {}): Candidate => ({
  address,
  weight,
  clients,
  enabled: true,
  healthy: true,
  ...more,
});

/** Places `n` clients one by one, as the primary does, and returns the final counts. */
function placeMany(servers: Candidate[], n: number): Map<string, number> {
  const list = servers.map((s) => ({ ...s }));
  for (let i = 0; i < n; i++) {
    const choice = chooseServer(list);
    assert.ok(choice, 'some server takes the client');
    list.find((s) => s.address === choice.address)!.clients++;
  }
  return new Map(list.map((s) => [s.address, s.clients]));
}

test('chooseServer takes the server with the lowest clients/weight after placement', () => {
  assert.equal(chooseServer([server('a', 1000, 10), server('b', 1000, 9)])?.address, 'b');
  // (20+1)/2000 < (10+1)/1000: the heavier server takes it although it holds more clients.
  assert.equal(chooseServer([server('a', 1000, 10), server('b', 2000, 20)])?.address, 'b');
  assert.equal(chooseServer([server('a', 900, 0), server('b', 1000, 0)])?.address, 'b');
});

test('chooseServer skips disabled, unhealthy and zero-weight servers, and says so when none is left', () => {
  const list = [
    server('a', 1000, 0, { enabled: false }),
    server('b', 1000, 0, { healthy: false }),
    server('c', 0, 0),
    server('d', 10, 500),
  ];
  assert.equal(chooseServer(list)?.address, 'd');
  assert.equal(chooseServer(list.slice(0, 3)), undefined);
  assert.equal(chooseServer([]), undefined);
});

test('ties go to the higher weight, then the lower address, whatever the order of the list', () => {
  // (1+1)/1000 == (3+1)/2000: the heavier wins.
  const tied = [server('a', 1000, 1), server('b', 2000, 3)];
  assert.equal(chooseServer(tied)?.address, 'b');
  assert.equal(chooseServer([...tied].reverse())?.address, 'b');
  const same = [server('10.0.0.2:443', 1000, 5), server('10.0.0.1:443', 1000, 5), server('10.0.0.3:443', 1000, 5)];
  assert.equal(chooseServer(same)?.address, '10.0.0.1:443');
  assert.equal(chooseServer([...same].reverse())?.address, '10.0.0.1:443');
});

test('2,000 arrivals over 900/1000/1000/2000 land within one client of each weight share', () => {
  const counts = placeMany([server('p', 900), server('a', 1000), server('b', 1000), server('c', 2000)], 2000);
  const total = 4900;
  for (const [address, weight] of [
    ['p', 900],
    ['a', 1000],
    ['b', 1000],
    ['c', 2000],
  ] as const) {
    const ideal = (2000 * weight) / total;
    assert.ok(
      Math.abs(counts.get(address)! - ideal) <= 1,
      `${address}: ${counts.get(address)} vs ideal ${ideal.toFixed(1)}`,
    );
  }
});

test("property: sequential placement never falls below any server's lower quota, nor exceeds it by the number of servers", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 0, max: 3000 }),
      (weights, n) => {
        const counts = placeMany(
          weights.map((w, i) => server(`s${i}`, w)),
          n,
        );
        const total = weights.reduce((a, b) => a + b, 0);
        weights.forEach((w, i) => {
          const quota = (n * w) / total;
          const got = counts.get(`s${i}`)!;
          assert.ok(got >= Math.floor(quota), `s${i} (w=${w}) got ${got}, below its lower quota ${quota}`);
          assert.ok(
            got <= Math.ceil(quota) + weights.length - 1,
            `s${i} (w=${w}) got ${got}, far above its quota ${quota}`,
          );
        });
      },
    ),
    { numRuns: 200 },
  );
});

test('property: the choice never depends on the order of the candidates', () => {
  const candidate = fc.record({
    address: fc.constantFrom('a:1', 'b:1', 'c:1', 'd:1', 'e:1'),
    weight: fc.integer({ min: 0, max: 3000 }),
    clients: fc.integer({ min: 0, max: 3000 }),
    enabled: fc.boolean(),
    healthy: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.uniqueArray(candidate, { selector: (c) => c.address, maxLength: 5 }), (list) => {
      const chosen = chooseServer(list)?.address;
      assert.equal(chooseServer([...list].reverse())?.address, chosen);
      if (chosen === undefined) {
        assert.ok(
          list.every((c) => !c.enabled || !c.healthy || c.weight <= 0),
          'undefined only when no server can take a client',
        );
        return;
      }
      const c = list.find((x) => x.address === chosen)!;
      assert.ok(c.enabled && c.healthy && c.weight > 0);
      for (const other of list) {
        if (!other.enabled || !other.healthy || other.weight <= 0) continue;
        assert.ok(
          (c.clients + 1) / c.weight <= (other.clients + 1) / other.weight,
          `${chosen} chosen over the less loaded ${other.address}`,
        );
      }
    }),
    { numRuns: 500 },
  );
});

test('a server that joins later takes every arrival until it has caught up, then shares by weight again', () => {
  const list = [server('p', 900, 367), server('a', 1000, 408), server('b', 1000, 408), server('late', 1000, 0)];
  const total = () => list.reduce((n, s) => n + s.clients, 0);
  let takenByLate = 0;
  while (chooseServer(list)?.address === 'late') {
    list[3]!.clients++;
    takenByLate++;
  }
  // It caught up with the others' load (about 0.408 clients per weight unit), not far beyond.
  assert.ok(takenByLate >= 400 && takenByLate <= 410, `late took ${takenByLate}`);
  const after = placeMany(list, 1000);
  const grand = total() + 1000;
  for (const s of list)
    assert.ok(
      Math.abs(after.get(s.address)! - (grand * s.weight) / 3900) <= 2,
      `${s.address}: ${after.get(s.address)}`,
    );
});

test('a raised weight attracts the next arrivals until the server catches up', () => {
  const list = [server('p', 900, 900), server('a', 1000, 1000), server('c', 2000, 2000)];
  list[2]!.weight = 4000; // was 2000, holding its share of 2000
  const counts = placeMany(list, 1000);
  assert.equal(counts.get('c'), 3000, 'the next 1000 arrivals all go to the server whose weight doubled');
});

test('PendingPlacements counts redirected clients per server until they arrive, move, or lapse', () => {
  const p = new PendingPlacements(1000);
  p.add('c1', 'a', 0);
  p.add('c2', 'a', 10);
  p.add('c3', 'b', 20);
  assert.deepEqual([p.count('a'), p.count('b'), p.count('z')], [2, 1, 0]);
  p.settle('c1');
  p.settle('c1'); // twice is harmless
  p.settle('unknown');
  assert.deepEqual([p.count('a'), p.count('b')], [1, 1]);
  // Placed again elsewhere: it counts once, on the new server.
  p.add('c2', 'b', 30);
  assert.deepEqual([p.count('a'), p.count('b')], [0, 2]);
  assert.deepEqual([p.serverOf('c2'), p.serverOf('c1'), p.serverOf('unknown')], ['b', undefined, undefined]);
  p.expire(1020); // c3 (at 20) is exactly 1000 old: not lapsed yet
  assert.equal(p.count('b'), 2);
  p.expire(1021);
  assert.equal(p.count('b'), 1);
  p.add('c4', 'a', 1021);
  p.dropServer('b');
  assert.deepEqual([p.count('a'), p.count('b')], [1, 0]);
  p.settle('c2'); // dropped already: no negative counts
  assert.equal(p.count('b'), 0);
});

test('PendingPlacements.expire lapses exactly the entries older than the TTL, among thousands (some placed again)', () => {
  const p = new PendingPlacements(1000);
  for (let i = 0; i < 5000; i++) p.add(`c${i}`, i % 2 ? 'a' : 'b', i);
  // Placed again later: they now count from their new time, on their new server.
  for (let i = 0; i < 100; i++) p.add(`c${i}`, 'c', 5000 + i);
  p.expire(1000 + 2999); // lapses c100..c2998 (at 100..2998); c2999 (at 2999) is exactly 1000 old
  assert.deepEqual([p.count('a'), p.count('b'), p.count('c')], [1001, 1000, 100]);
  p.expire(1000 + 5050);
  assert.deepEqual([p.count('a'), p.count('b'), p.count('c')], [0, 0, 50]);
});

test('pending placements steer a burst: arrivals that have not landed yet still count', () => {
  const pending = new PendingPlacements();
  const servers = [server('p', 900), server('a', 1000), server('c', 2000)];
  const placed = new Map<string, number>();
  for (let i = 0; i < 390; i++) {
    // Nobody has arrived yet: only the pending counts move the choice.
    const list = servers.map((s) => ({ ...s, clients: pending.count(s.address) }));
    const choice = chooseServer(list)!;
    pending.add(`c${i}`, choice.address, 0);
    placed.set(choice.address, (placed.get(choice.address) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(placed), { p: 90, a: 100, c: 200 });
});
