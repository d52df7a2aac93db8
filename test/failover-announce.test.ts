/**
 * Issue 4, the acting primary's announcement: right after its promotion the secondary tells the
 * members, and a member that was waiting to retry links to it then, not at its next retry; the
 * primary does the same when it takes its role back.
 *
 * To show the announcement at work rather than the member's own retries, the member is stopped
 * (SIGSTOP) before the primary is killed. The secondary then cannot ask it (an unreachable member
 * counts as not reaching the primary), promotes and announces itself; the member, resumed as soon as
 * the takeover is logged, finds the lost link and the announcement waiting together. Its own retries
 * go to the dead primary first and to the secondary only after that, so the link it logs as dialled
 * "on its announcement" is the announcement's doing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FailoverCluster, linesSince } from './helpers/failover.js';

// A long heartbeat: the member's clients must not give it up while it is stopped for a few seconds.
const cluster = new FailoverCluster({ subnet: '127.0.100', members: 1, heartbeat: 5 });
const { primary, secondary } = cluster;
const member = cluster.members[0]!;
const BENCH = 60;
let takeoverEpoch = 0;

before(async () => {
  await cluster.configure();
  await cluster.startAll();
  await cluster.bench(BENCH, 'an');
  await cluster.waitBrowse((c) => c.length === BENCH, 'every bench client browsable on the primary');
});

after(() => cluster.cleanup());

test('after its promotion the secondary announces itself, and the member links to it on the announcement; its clients are browsable there', async () => {
  const onMember = (await cluster.sdkBrowse())
    .filter((c) => c.server === member.address)
    .map((c) => c.name)
    .sort();
  assert.ok(onMember.length > 0, 'some clients are on the member');
  const marks = { s: secondary.proc!.lines.length, m: member.proc!.lines.length };
  const pid = member.proc!.child.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    await cluster.kill9(primary);
    const takeover = await secondary.proc!.waitForLine(
      (l) => l.msg === 'the secondary takes over as acting primary',
      'the takeover',
      30_000,
      marks.s,
    );
    takeoverEpoch = Number(takeover.epoch);
    assert.equal(takeoverEpoch, 2);
  } finally {
    process.kill(pid, 'SIGCONT');
  }

  const heard = await member.proc!.waitForLine(
    (l) => l.msg === 'the acting primary announced itself',
    'the announcement reaches the member',
    15_000,
    marks.m,
  );
  assert.equal(heard.acting, secondary.address);
  assert.equal(heard.epoch, takeoverEpoch);
  assert.equal(heard.action, 'relink', `the member had not linked by itself: ${String(heard.reason)}`);
  const linked = await cluster.linkedTo(member, secondary.address, marks.m);
  assert.equal(linked.dialled, 'on its announcement');
  assert.equal(linked.epoch, takeoverEpoch);

  // The member's list came with that link: its clients did not move, and browse shows them all.
  // (The lost primary's clients may have joined them there: each returns to a server of its choice.)
  const clients = await cluster.waitBrowse(
    (c) => c.length === BENCH && c.every((x) => x.server !== primary.address),
    'every bench client browsable on the acting secondary',
  );
  const nowOnMember = new Set(clients.filter((c) => c.server === member.address).map((c) => c.name));
  assert.deepEqual(
    onMember.filter((name) => !nowOnMember.has(name)),
    [],
    "the member's clients stayed on it",
  );
});

test('the primary takes its role back and announces itself too; the member links to it at the higher epoch', async () => {
  const marks = { p: 0, m: member.proc!.lines.length };
  await cluster.start(primary);
  const back = await primary.proc!.waitForLine(
    (l) => l.msg === 'took the primary role back',
    'the failback',
    30_000,
    marks.p,
  );
  const epoch = Number(back.epoch);
  assert.ok(epoch > takeoverEpoch);
  // The member hears it whatever it was doing (it may have been dialling the primary already).
  const heard = await member.proc!.waitForLine(
    (l) => l.msg === 'the acting primary announced itself' && l.acting === primary.address,
    "the primary's announcement",
    15_000,
    marks.m,
  );
  assert.equal(heard.epoch, epoch);
  assert.notEqual(heard.action, 'refuse', String(heard.reason));
  const linked = await cluster.linkedTo(member, primary.address, marks.m);
  assert.equal(linked.epoch, epoch);
  // No announcement was refused anywhere along the way.
  assert.deepEqual(
    linesSince(member.proc!, 0, 'the acting primary announced itself').filter((l) => l.action === 'refuse'),
    [],
  );
  await cluster.waitBrowse((c) => c.length === BENCH, 'every bench client browsable on the primary again');
});
