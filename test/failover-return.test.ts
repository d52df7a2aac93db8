/**
 * Issue 20, "returning clients should not all queue at the secondary": kill -9 of the primary; each
 * client that was on it returns straight to a member of its own choosing (src/net/returnOrder.ts,
 * over the members its welcome named; the secondary, taking over, last), with a full hello there,
 * and no round trip through the secondary; the acting secondary learns them over the members' links.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { returnOrder } from '../src/net/returnOrder.js';
import type { Proc } from './helpers/harness.js';
import { FailoverCluster, linesSince } from './helpers/failover.js';

const cluster = new FailoverCluster({ subnet: '127.0.76', members: 2, heartbeat: 1 });
const { primary, secondary } = cluster;
const members = cluster.members.map((n) => n.address);
const NAMES = Array.from({ length: 8 }, (_, i) => `ret-${i}`);
const clients = new Map<string, Proc>();

before(async () => {
  await cluster.configure();
  await cluster.startAll();
  for (const name of NAMES) clients.set(name, await cluster.client(name));
});

after(() => cluster.cleanup());

test('the welcome names the members; kill -9 of the primary: its clients return each to its own first choice', async () => {
  const placed = await cluster.waitBrowse((c) => c.length === NAMES.length, 'every client browsable');
  const onPrimary = placed.filter((c) => c.server === primary.address);
  assert.ok(onPrimary.length > 0, `some clients on the primary (${JSON.stringify(placed.map((c) => c.server))})`);
  const marks = new Map(onPrimary.map((c) => [c.name, clients.get(c.name)!.lines.length]));

  await cluster.kill9(primary);

  const back = await cluster.waitBrowse(
    (c) => c.length === NAMES.length && c.every((x) => x.server !== primary.address),
    'every client browsable on the acting secondary',
    60_000,
    secondary.address,
    null,
  );
  for (const c of onPrimary) {
    const proc = clients.get(c.name)!;
    // The members in its own order, then the secondary, which is taking over (serverList.ts).
    const order = [...returnOrder(c.id, members), secondary.address];
    const since = proc.lines.slice(marks.get(c.name));
    // Every attempt after the loss: its own first choice (not the primary that dropped it), then
    // the others in its order, the dead primary between; never a server it was redirected to.
    const attempts = since.filter((l) => l.status === 'connecting').map((l) => String(l.server));
    assert.equal(attempts[0], order[0], `${c.name} went first to ${attempts[0]}`);
    const elsewhere = attempts.filter((a) => a !== primary.address);
    assert.deepEqual(elsewhere, order.slice(0, elsewhere.length), `${c.name} tried ${attempts.join(', ')}`);
    assert.ok(!since.some((l) => /redirected/.test(String(l.reason ?? ''))), `${c.name} was not redirected`);
    const connected = since.find((l) => l.status === 'connected');
    assert.ok(connected, `${c.name} connected again`);
    assert.equal(connected.server, elsewhere.at(-1));
    assert.equal(back.find((x) => x.id === c.id)?.server, connected.server, `${c.name} browsable where it went`);
  }
  // The servers it chose among kept each with a full hello ('client up' on that server).
  for (const node of [secondary, ...cluster.members]) {
    const ups = linesSince(node.proc!, 0, 'client up').map((l) => String(l.client));
    for (const c of back.filter((x) => x.server === node.address))
      assert.ok(ups.includes(c.id), `${c.name} up on ${node.name}`);
  }
});
