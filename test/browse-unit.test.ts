/**
 * The pure parts of paging (issue 20): the natural order of client names, the cursor, and the
 * choice of a page, including clients that arrive and leave between pages; the console's list,
 * kept sorted as live changes come in one by one or in batches.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ClientList, matches, type Listed } from '../src/console/clientList.js';
import { applySorted } from '../src/console/sortedBatch.js';
import { compareClients, compareNatural, type SortKey } from '../src/console/naturalOrder.js';
import { decodeCursor, encodeCursor } from '../src/server/browseCursor.js';
import { pageOf } from '../src/server/clientPage.js';
import { smallestFirst } from '../src/server/smallestFirst.js';

test('names sort naturally: numbers by value, text without regard to case', () => {
  const names = ['pc-10', 'pc-2', 'PC-1', 'pc-1', 'pc-02', 'pc', 'pc-1b', 'pc-1a', 'alpha', 'Beta', 'pc-100', 'pc-9'];
  assert.deepEqual(names.sort(compareNatural), [
    'alpha',
    'Beta',
    'pc',
    'PC-1',
    'pc-1',
    'pc-1a',
    'pc-1b',
    'pc-02',
    'pc-2',
    'pc-9',
    'pc-10',
    'pc-100',
  ]);
  assert.ok(compareNatural('host-99999999999999999999', 'host-100000000000000000000') < 0, 'beyond 2^53 too');
  assert.equal(compareNatural('same', 'same'), 0);
});

test('the order is total: antisymmetric, transitive, and only identical names tie', () => {
  const name = fc.stringMatching(/^[a-cA-C0-2 ._-]{0,6}$/);
  fc.assert(
    fc.property(name, name, name, (a, b, c) => {
      const sign = (n: number) => Math.sign(n);
      assert.equal(sign(compareNatural(a, b)), -sign(compareNatural(b, a)) || 0);
      assert.equal(compareNatural(a, b) === 0, a === b);
      if (compareNatural(a, b) < 0 && compareNatural(b, c) < 0) assert.ok(compareNatural(a, c) < 0);
    }),
    { numRuns: 5000 },
  );
});

test('a cursor round-trips a sort key, and anything else is refused with SB_ERR_BAD_MESSAGE', () => {
  const key = { name: 'pc-7 "quoted" ✓', id: 'abc-123' };
  assert.deepEqual(decodeCursor(encodeCursor(key)), key);
  for (const bad of [
    '',
    'not a cursor',
    'x'.repeat(600),
    Buffer.from('[2,"a","b"]').toString('base64url'),
    Buffer.from('{}').toString('base64url'),
  ])
    assert.throws(() => decodeCursor(bad), { code: 'SB_ERR_BAD_MESSAGE' });
});

test('smallestFirst picks the k smallest in order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer()), fc.integer({ min: 0, max: 20 }), (items, k) => {
      const byValue = (a: number, b: number) => a - b;
      assert.deepEqual(smallestFirst(items, k, byValue), [...items].sort(byValue).slice(0, k));
    }),
  );
});

test('paging through a set that changes between pages: every client that stayed appears once, in order', () => {
  const client = fc.record({ name: fc.stringMatching(/^[ab]-[0-9]{1,2}$/), id: fc.stringMatching(/^[a-f0-9]{4}$/) });
  fc.assert(
    fc.property(
      fc.uniqueArray(client, { selector: (c) => c.id, maxLength: 40 }),
      fc.array(fc.tuple(fc.boolean(), client), { maxLength: 30 }),
      fc.integer({ min: 1, max: 7 }),
      (start, changes, limit) => {
        const now = new Map(start.map((c) => [c.id, c]));
        const stayed = new Map(now);
        const seen: SortKey[] = [];
        let cursor: string | undefined;
        let changeAt = 0;
        for (let pages = 0; ; pages++) {
          assert.ok(pages < 200, 'paging ends');
          const page = pageOf(now.values(), limit, cursor);
          assert.ok(page.clients.length <= limit);
          seen.push(...page.clients);
          if (!page.next) break;
          cursor = page.next;
          // Between pages, a few arrivals and departures (the cursor's own client among them, at times).
          for (const [arrives, c] of changes.slice(changeAt, (changeAt += 2))) {
            const gone = arrives ? undefined : [...now.values()][c.id.charCodeAt(0) % Math.max(1, now.size)];
            if (arrives && !now.has(c.id)) now.set(c.id, c);
            if (gone) {
              now.delete(gone.id);
              stayed.delete(gone.id);
            }
          }
        }
        const ids = seen.map((c) => c.id);
        assert.equal(new Set(ids).size, ids.length, 'no client twice');
        for (let i = 1; i < seen.length; i++) assert.ok(compareClients(seen[i - 1]!, seen[i]!) < 0, 'in order');
        for (const id of stayed.keys()) assert.ok(ids.includes(id), `${id} stayed throughout and was not missed`);
      },
    ),
    { numRuns: 500 },
  );
});

test("the console's list stays sorted and filtered as clients come and go one by one", () => {
  const client = fc.record({
    id: fc.constantFrom(...Array.from({ length: 30 }, (_, i) => `id${i}`)),
    name: fc.stringMatching(/^(pc|PC|db)-[0-9]{1,3}$/),
    group: fc.constantFrom('', 'lab', 'office'),
    platform: fc.constant('linux'),
    address: fc.constant('127.0.0.1'),
    server: fc.constantFrom('a:1', 'b:1'),
  });
  const filter = fc.record({
    text: fc.constantFrom('', 'pc-1', 'DB', 'b:1'),
    group: fc.constantFrom(undefined, '', 'lab'),
  });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), client)), filter, (ops, chosen) => {
      const list = new ClientList<Listed>();
      const model = new Map<string, Listed>();
      // The filter set at the start for half the runs, at the end for the others: both paths must agree.
      const early = chosen.text.length % 2 === 0;
      if (early) list.setFilter(chosen);
      for (const [up, c] of ops) {
        if (up) {
          list.upsert(c);
          model.set(c.id, c);
        } else {
          list.remove(c.id);
          model.delete(c.id);
        }
      }
      if (!early) list.setFilter(chosen);
      const text = chosen.text.toLowerCase();
      const expected = [...model.values()]
        .filter((c) => matches(c, { text, group: chosen.group }))
        .sort(compareClients)
        .map((c) => c.id);
      assert.deepEqual(
        list.shown.map((c) => c.id),
        expected,
      );
      assert.equal(list.size, model.size);
      assert.deepEqual(list.groups(), [...new Set([...model.values()].map((c) => c.group))].sort());
    }),
    { numRuns: 500 },
  );
});

test("the console's list applies a batch of changes as the same changes one by one would", () => {
  // Batches up to 120 changes: both ways of applySorted (splices for a few, one merge for many).
  const client = fc.record({
    id: fc.constantFrom(...Array.from({ length: 150 }, (_, i) => `id${i}`)),
    name: fc.stringMatching(/^(pc|PC|new)-[0-9]{1,3}$/),
    group: fc.constantFrom('', 'lab'),
    platform: fc.constant('linux'),
    address: fc.constant('127.0.0.1'),
    server: fc.constant('a:1'),
  });
  const change = fc.tuple(fc.boolean(), client);
  fc.assert(
    fc.property(
      fc.array(fc.array(change, { maxLength: 120 }), { maxLength: 6 }),
      fc.constantFrom(undefined, 'lab'),
      (batches, group) => {
        const batched = new ClientList<Listed>();
        const oneByOne = new ClientList<Listed>();
        batched.setFilter({ text: '', group });
        oneByOne.setFilter({ text: '', group });
        for (const batch of batches) {
          const changes = new Map<string, Listed | undefined>();
          for (const [up, c] of batch) {
            changes.set(c.id, up ? c : undefined);
            if (up) oneByOne.upsert(c);
            else oneByOne.remove(c.id);
          }
          batched.apply(changes);
          assert.deepEqual(batched.shown, oneByOne.shown);
          assert.equal(batched.size, oneByOne.size);
          for (const [i, c] of batched.shown.entries()) assert.equal(batched.indexOf(c.id), i);
        }
        batched.setFilter({ text: '' });
        const all = batched.shown.map((c) => c.id);
        assert.deepEqual(
          all,
          [...all].sort((a, b) => compareClients(batched.get(a)!, batched.get(b)!)),
        );
        assert.deepEqual(batched.groups(), oneByOne.groups());
      },
    ),
    { numRuns: 300 },
  );
});

test('applySorted takes out by identity and merges in, small batch or large', () => {
  const byNumber = (a: { n: number }, b: { n: number }) => a.n - b.n;
  const items = Array.from({ length: 100 }, (_, n) => ({ n: n * 2 }));
  for (const size of [1, 5, 40, 100]) {
    const gone = new Set(items.slice(0, size));
    const added = Array.from({ length: size }, (_, i) => ({ n: 2 * (size - i) - 1 }));
    const out = applySorted([...items], gone, added, byNumber);
    const want = [...items.slice(size), ...added].sort(byNumber);
    assert.deepEqual(out, want, `batch of ${2 * size}`);
    // An equal-looking item that is not the one held is not taken out.
    assert.equal(applySorted([...items], new Set([{ n: 0 }]), [], byNumber).length, items.length);
  }
});

test('the group "(none)" means clients without a group, not every client', () => {
  const list = new ClientList<Listed>();
  const base = { platform: 'linux', address: '127.0.0.1', server: 'a:1' };
  list.upsert({ ...base, id: '1', name: 'solo', group: '' });
  list.upsert({ ...base, id: '2', name: 'desk', group: 'office' });
  list.setFilter({ text: '', group: '' });
  assert.deepEqual(
    list.shown.map((c) => c.name),
    ['solo'],
  );
  list.setFilter({ text: '' });
  assert.deepEqual(
    list.shown.map((c) => c.name),
    ['desk', 'solo'],
  );
});
