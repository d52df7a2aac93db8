import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { announcementDecision, type AnnouncementInput } from '../src/cluster/announcement.js';
import { nextEpoch, promotionDecision, type Probe } from '../src/cluster/failover.js';

const reaching = (address: string): Probe => ({ address, reachable: true, reachesPrimary: true });
const lost = (address: string): Probe => ({ address, reachable: true, reachesPrimary: false });
const silent = (address: string): Probe => ({ address, reachable: false, reachesPrimary: false });

test('three servers: a member that still reaches the primary stops the promotion (a cut between primary and secondary alone)', () => {
  const d = promotionDecision({ others: 1, probes: [reaching('m2')] });
  assert.equal(d.promote, false);
  assert.match(d.reason, /1 of 1 other servers still reach the primary/);
});

test('three servers: the primary is really gone when the other member lost it too, or cannot be asked', () => {
  assert.equal(promotionDecision({ others: 1, probes: [lost('m2')] }).promote, true);
  assert.equal(promotionDecision({ others: 1, probes: [silent('m2')] }).promote, true);
  assert.match(promotionDecision({ others: 1, probes: [lost('m2')] }).reason, /only 0 of 1/);
});

test('a secondary alone with the primary promotes when it loses it: there is nobody to ask', () => {
  assert.equal(promotionDecision({ others: 0, probes: [] }).promote, true);
});

test('an unreachable server counts as not reaching the primary, whatever it would say', () => {
  const probes: Probe[] = [{ address: 'm2', reachable: false, reachesPrimary: true }, lost('m3')];
  assert.equal(promotionDecision({ others: 2, probes }).promote, true);
});

test('five servers: two others reaching the primary make a majority with it; one does not', () => {
  assert.equal(promotionDecision({ others: 3, probes: [reaching('a'), reaching('b'), lost('c')] }).promote, false);
  assert.equal(promotionDecision({ others: 3, probes: [reaching('a'), silent('b'), lost('c')] }).promote, true);
});

test('property: never a promotion while a strict majority of the whole cluster reaches the primary', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ reachable: fc.boolean(), reachesPrimary: fc.boolean() }), { maxLength: 12 }),
      (answers) => {
        const probes = answers.map((a, i) => ({ address: `s${i}`, ...a }));
        const others = probes.length;
        const withPrimary = 1 + probes.filter((p) => p.reachable && p.reachesPrimary).length;
        const decision = promotionDecision({ others, probes });
        if (withPrimary * 2 > others + 2) assert.equal(decision.promote, false, JSON.stringify(probes));
        // When nobody answers that it reaches the primary, the secondary must take over.
        if (withPrimary === 1) assert.equal(decision.promote, true, JSON.stringify(probes));
        assert.equal(typeof decision.reason, 'string');
        assert.ok(decision.reason.length > 0);
      },
    ),
  );
});

test('property: the decision is monotonic: one more server reaching the primary never turns "stay" into "promote"', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), fc.nat(), (reach, pick) => {
      const probes = reach.map((r, i) => (r ? reaching(`s${i}`) : lost(`s${i}`)));
      const i = pick % probes.length;
      const more = probes.map((p, j) => (j === i ? reaching(p.address) : p));
      const before = promotionDecision({ others: probes.length, probes });
      const after = promotionDecision({ others: probes.length, probes: more });
      if (!before.promote) assert.equal(after.promote, false);
    }),
  );
});

test('nextEpoch is above every epoch seen, and 1 when none was', () => {
  assert.equal(nextEpoch(), 1);
  assert.equal(nextEpoch(0), 1);
  assert.equal(nextEpoch(1), 2);
  assert.equal(nextEpoch(2, 5, 3), 6);
  assert.equal(nextEpoch(-4), 1);
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 1_000_000 }), { maxLength: 10 }), (seen) => {
      const next = nextEpoch(...seen);
      assert.ok(Number.isInteger(next));
      for (const e of seen) assert.ok(next > e);
      assert.equal(next, Math.max(0, ...seen) + 1);
    }),
  );
});

// ---- the acting primary's announcement, as a member takes it ----------------------------------

const waiting: AnnouncementInput = {
  from: 'S',
  epoch: 2,
  ourEpoch: 1,
  primary: 'P',
  secondary: 'S',
  linkedTo: undefined,
  dialing: undefined,
};

test('announcement: a member waiting to retry, or dialling elsewhere, links to the announced acting primary at once', () => {
  assert.deepEqual(announcementDecision(waiting), { action: 'relink', reason: 'was waiting to retry' });
  assert.deepEqual(announcementDecision({ ...waiting, dialing: 'P' }), { action: 'relink', reason: 'was dialling P' });
  // The primary taking its role back announces itself the same way.
  assert.equal(announcementDecision({ ...waiting, from: 'P', epoch: 3, ourEpoch: 2, dialing: 'S' }).action, 'relink');
  // The same epoch as ours is not stale (the member may have seen it from a link that just dropped).
  assert.equal(announcementDecision({ ...waiting, epoch: 1 }).action, 'relink');
});

test('announcement: a member that holds a link keeps it, and one already dialling the announced server lets that attempt go on', () => {
  assert.deepEqual(announcementDecision({ ...waiting, linkedTo: 'S' }), {
    action: 'ignore',
    reason: 'already linked to it',
  });
  assert.deepEqual(announcementDecision({ ...waiting, linkedTo: 'P' }), { action: 'ignore', reason: 'linked to P' });
  assert.deepEqual(announcementDecision({ ...waiting, dialing: 'S' }), {
    action: 'ignore',
    reason: 'already dialling it',
  });
});

test('announcement: refused from a server that is neither the primary nor the secondary, or with an older or malformed epoch', () => {
  assert.equal(announcementDecision({ ...waiting, from: 'M2' }).action, 'refuse');
  assert.equal(announcementDecision({ ...waiting, secondary: undefined }).action, 'refuse');
  assert.match(announcementDecision({ ...waiting, epoch: 0 }).reason, /older than 1/);
  for (const epoch of [Number.NaN, 2.5, Infinity])
    assert.equal(announcementDecision({ ...waiting, epoch }).action, 'refuse', String(epoch));
});

test('property: an announcement never moves a member that holds a link, nor one refused; it relinks only to the primary or the secondary', () => {
  const name = fc.constantFrom('P', 'S', 'M2', '');
  fc.assert(
    fc.property(
      name,
      fc.integer({ min: -2, max: 5 }),
      fc.nat({ max: 5 }),
      fc.option(name, { nil: undefined }),
      fc.option(name, { nil: undefined }),
      (from, epoch, ourEpoch, linkedTo, dialing) => {
        const d = announcementDecision({ from, epoch, ourEpoch, primary: 'P', secondary: 'S', linkedTo, dialing });
        if (d.action === 'relink') {
          assert.ok(from === 'P' || from === 'S');
          assert.ok(epoch >= ourEpoch);
          assert.equal(linkedTo, undefined);
          assert.notEqual(dialing, from);
        }
        if (linkedTo !== undefined) assert.notEqual(d.action, 'relink');
        assert.ok(d.reason.length > 0);
      },
    ),
  );
});
