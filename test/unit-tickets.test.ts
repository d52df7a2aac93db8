// Unit tests of the single-use ticket table.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TicketTable } from '../src/server/tickets.js';

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
