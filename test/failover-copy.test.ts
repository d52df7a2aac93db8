/**
 * Issue 20, the failover of a fleet: the secondary keeps a copy of the primary's directory
 * (src/cluster/directoryFeed.ts, directoryCopy.ts), so that when it takes over, the clients that
 * stayed connected to members are listed at once, not only as each member re-links and sends its
 * list (which, behind a fleet's returning clients, came seconds later).
 *
 * To tell the copy from the member's own list, the member is stopped (SIGSTOP) before the primary
 * is killed: it cannot re-link, yet the acting secondary lists its clients. A session to one of
 * them is refused with a clear reason until the member is back; after the grace the copy's entries
 * go (a member that died with the primary must not leave its clients listed); the resumed member
 * lists them again itself.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { INHERITED_GRACE_MS } from '../src/cluster/primaryRole.js';
import { request, seriesValue } from './helpers/api.js';
import { FailoverCluster, waitUntil } from './helpers/failover.js';

// A long heartbeat: the member's clients must not give it up while it is stopped (2.5 heartbeats).
const cluster = new FailoverCluster({ subnet: '127.0.82', members: 1, heartbeat: 30 });
const { primary, secondary } = cluster;
const member = cluster.members[0]!;
const BENCH = 24;

before(async () => {
  await cluster.configure();
  await cluster.startAll();
  await cluster.bench(BENCH, 'copy');
});

after(() => cluster.cleanup());

const copySize = async () =>
  seriesValue((await request(secondary.address, 'GET', '/metrics')).text, 'switchboard_directory_copy_clients');

test("a secondary that takes over lists the members' clients from its copy while they re-link", async () => {
  const placed = await cluster.waitBrowse((c) => c.length === BENCH, 'every client browsable on the primary');
  const onMember = placed.filter((c) => c.server === member.address);
  assert.ok(onMember.length > 0, `some clients are on the member (${JSON.stringify(placed.map((c) => c.server))})`);
  let held: number | undefined;
  await waitUntil(
    async () => ((held = await copySize()) === BENCH ? true : undefined),
    () => `the secondary's copy to hold all ${BENCH} (it holds ${held})`,
    15_000,
    100,
  );

  const mark = secondary.proc!.lines.length;
  const pid = member.proc!.child.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    await cluster.kill9(primary);
    await secondary.proc!.waitForLine(
      (l) => l.msg === 'the secondary takes over as acting primary',
      'the takeover',
      30_000,
      mark,
    );
    const inherited = await secondary.proc!.waitForLine(
      (l) => l.msg === "listed the members' clients from the copy",
      'the copy listed',
      5_000,
      mark,
    );
    // The lost primary's own clients are not in it: they are reconnecting, and come as they arrive.
    assert.equal(inherited.clients, onMember.length);
    const listed = await cluster.sdkBrowse(secondary.address, null);
    for (const c of onMember)
      assert.equal(listed.find((x) => x.id === c.id)?.server, member.address, `${c.name} listed on the stopped member`);

    const open = await cluster.control(['exec', onMember[0]!.name, '--', 'true'], secondary.address, null);
    assert.notEqual(open.code, 0);
    assert.match(open.stderr, new RegExp(`${member.address.replaceAll('.', '\\.')}.*not linked`));

    const dropped = await secondary.proc!.waitForLine(
      (l) => l.msg === 'a member did not re-link in time: its clients listed from the copy are dropped',
      'the grace to end',
      INHERITED_GRACE_MS + 10_000,
      mark,
    );
    assert.equal(dropped.member, member.address);
    assert.equal(dropped.clientsDropped, onMember.length);
    const after = await cluster.sdkBrowse(secondary.address, null);
    assert.ok(!after.some((c) => c.server === member.address), 'none listed on the member after the grace');
  } finally {
    process.kill(pid, 'SIGCONT');
  }

  await cluster.waitBrowse(
    (c) => onMember.every((m) => c.some((x) => x.id === m.id && x.server === member.address)),
    "the member's clients listed again from its own list once it re-links",
    30_000,
    secondary.address,
    null,
  );
});
