/**
 * The rule for writes a full disk refused (src/store/writeBacklog.ts), on plain inputs: records
 * wait in order, bounded, the oldest dropped and counted; meta keeps the latest value; trouble is
 * reported at its start, once per interval, and at its end. security-disk.test.ts runs it for real.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteBacklog, type PendingAudit } from '../src/store/writeBacklog.js';

const record = (n: number): PendingAudit => ({ at: `t${n}`, actor: 'a', action: `event-${n}`, detail: '{}' });

test('the backlog keeps records in order up to its bound, then drops the oldest and counts each drop', () => {
  const backlog = new WriteBacklog(3, 60_000);
  assert.equal(backlog.empty, true);
  for (let n = 1; n <= 5; n++) backlog.deferAudit(record(n));
  assert.deepEqual(
    backlog.audits().map((r) => r.action),
    ['event-3', 'event-4', 'event-5'],
  );
  assert.deepEqual(backlog.stats(), { auditDeferred: 5, auditDropped: 2, pendingAudit: 3, pendingMeta: 0 });
  backlog.deferMeta('epoch', '2');
  backlog.deferMeta('epoch', '3');
  assert.deepEqual([...backlog.meta], [['epoch', '3']]);
  assert.equal(backlog.empty, false);
});

test('trouble is reported when it starts, then at most once per interval, and once when it ends', () => {
  const backlog = new WriteBacklog(10, 60_000);
  backlog.deferAudit(record(1));
  const first = backlog.failed('SQLITE_FULL: database or disk is full', 1_000);
  assert.deepEqual(first, {
    state: 'failing',
    error: 'SQLITE_FULL: database or disk is full',
    pendingAudit: 1,
    pendingMeta: 0,
    deferredSinceReport: 1,
    droppedSinceReport: 0,
  });
  for (let n = 2; n <= 6; n++) backlog.deferAudit(record(n));
  // Retries every few seconds within the interval: silent.
  for (let t = 6_000; t < 61_000; t += 5_000) assert.equal(backlog.failed('SQLITE_FULL', t), undefined, `at ${t}`);
  const again = backlog.failed('SQLITE_FULL', 61_000);
  assert.equal(again?.state, 'failing');
  assert.equal(again?.state === 'failing' && again.deferredSinceReport, 5);
  assert.deepEqual(backlog.written(), { state: 'recovered', written: 6, dropped: 0 });
  assert.equal(backlog.empty, true);
  assert.deepEqual(backlog.audits(), []);
  // Cumulative counts stay for /metrics.
  assert.deepEqual(backlog.stats(), { auditDeferred: 6, auditDropped: 0, pendingAudit: 0, pendingMeta: 0 });
  // A new episode is reported at once.
  backlog.deferAudit(record(7));
  assert.equal(backlog.failed('SQLITE_FULL', 62_000)?.state, 'failing');
});
