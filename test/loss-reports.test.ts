/**
 * A member's word that it lost the primary (src/cluster/lossReports.ts): it counts as the member's
 * answer to the secondary's election for as long as a probe may take, and settles a probe that is
 * still waiting for an answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LossReports } from '../src/cluster/lossReports.js';

test('a report counts for as long as a probe may take, with the epoch it was made at', () => {
  let now = 1_000;
  const reports = new LossReports(3000, () => now);
  assert.equal(reports.recent('m:1'), undefined);
  reports.report('m:1', 4);
  now += 3000;
  assert.equal(reports.recent('m:1'), 4);
  assert.equal(reports.recent('m:2'), undefined, 'another member said nothing');
  now += 1;
  assert.equal(reports.recent('m:1'), undefined, 'too old to stand for an answer');
});

test('a probe waiting for a member is settled by its report; a cancelled wait is not', async () => {
  const reports = new LossReports();
  const waiting = reports.next('m:1');
  const cancelled = reports.next('m:1');
  cancelled.cancel();
  let settled = false;
  void cancelled.reported.then(() => (settled = true));
  reports.report('m:2', 7);
  reports.report('m:1', 5);
  assert.equal(await waiting.reported, 5);
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
});
