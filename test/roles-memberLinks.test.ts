/**
 * The primary's handling of a member's link, without sockets: the join check alone
 * (src/cluster/memberJoin.ts), then a PrimaryRole on a MemoryHost (test/helpers/memoryCluster.ts)
 * driven over an in-memory link the way a member drives it: join, reports, replacement, close
 * (src/cluster/memberLinks.ts, memberReports.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { admitJoin, isRefusal, type JoinMessage } from '../src/cluster/memberJoin.js';
import { PrimaryRole } from '../src/cluster/primaryRole.js';
import { REPORT_SLICE } from '../src/cluster/memberReports.js';
import { clientBatches } from '../src/cluster/clientBatches.js';
import { memoryLinkPair } from '../src/net/memoryLink.js';
import { clientIdFor } from '../src/protocol/clientIdentity.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { CLUSTER_PROTOCOL_VERSION, memberProof } from '../src/protocol/clusterMessages.js';
import type { ServerRow } from '../src/store/configStore.js';
import type { DirectoryEntry } from '../src/server/directory.js';
import { KEY_NAME, MemoryWorld, until, type MemoryHost } from './helpers/memoryCluster.js';

const SECRET = 'in-memory-cluster-secret-0123';
const P = '127.0.0.1:2001';
const M = '127.0.0.1:2003';
const OFF = '127.0.0.1:2004';
const worlds: MemoryWorld[] = [];
after(() => worlds.forEach((w) => w.stopAll()));

function joinFor(address: string, nonce: string, binding = '', extra: Partial<JoinMessage> = {}): JoinMessage {
  const join = { address, standby: extra.standby };
  return {
    type: 'join',
    version: CLUSTER_PROTOCOL_VERSION,
    address,
    nonce: 'member-nonce',
    proof: memberProof(SECRET, nonce, join, binding),
    configVersion: 0,
    epoch: 0,
    sessions: 0,
    ...extra,
  };
}

const rows: ServerRow[] = [
  { address: M, weight: 100, enabled: true, secondary: false },
  { address: OFF, weight: 100, enabled: false, secondary: false },
] as ServerRow[];

test('admitJoin: a proof of the secret over this link and an enabled row, or a refusal with its code', () => {
  const [, link] = memoryLinkPair(M, P, 'binding-1');
  const check = { secret: SECRET, nonce: 'n1', binding: 'binding-1', rows };
  const member = admitJoin(joinFor(M, 'n1', 'binding-1'), link, check);
  assert.ok(!isRefusal(member));
  assert.equal(member.address, M);
  assert.equal(member.standby, false);
  assert.ok(member.syncing?.size === 0, 'its clients are synced afresh');

  const refused = (msg: JoinMessage) => {
    const result = admitJoin(msg, link, check);
    return isRefusal(result) ? result.code : 'admitted';
  };
  assert.equal(
    refused(joinFor(M, 'another nonce', 'binding-1')),
    CloseCodes.CLUSTER_AUTH,
    'a proof for another challenge',
  );
  assert.equal(refused(joinFor(M, 'n1', 'another binding')), CloseCodes.CLUSTER_AUTH, 'a proof for another link');
  assert.equal(refused(joinFor('127.0.0.1:2999', 'n1', 'binding-1')), CloseCodes.NOT_IN_CLUSTER, 'no row');
  assert.equal(refused(joinFor(OFF, 'n1', 'binding-1')), CloseCodes.NOT_IN_CLUSTER, 'a disabled row');
  assert.equal(refused(joinFor(M, 'n1', 'binding-1', { version: 1 })), CloseCodes.BAD_MESSAGE, 'an old protocol');
  // A standby needs no row: it holds no placed clients.
  const standby = admitJoin(joinFor('127.0.0.1:2999', 'n1', 'binding-1', { standby: true }), link, check);
  assert.ok(!isRefusal(standby) && standby.standby);
});

function primary(): MemoryHost {
  const w = new MemoryWorld();
  worlds.push(w);
  const host = w.add(P, 'primary', (h) => new PrimaryRole(h, { secret: SECRET }));
  host.store.addKey(KEY_NAME, 'in-memory-key-value-0123');
  host.store.addServer({ address: M, weight: 100, enabled: true, secondary: false });
  host.config.check();
  return host.start();
}

/** A member's end of a link to `host`: what it received, its close code, and a way to join. */
function memberEnd(host: MemoryHost) {
  const [mine, theirs] = memoryLinkPair(M, P);
  const got: { type: string; nonce?: string }[] = [];
  let closed: number | undefined;
  mine.onMessage((data) => got.push(JSON.parse(String(data)) as { type: string }));
  mine.onClose((code) => (closed = code));
  host.behaviour.acceptClusterLink(theirs);
  return {
    link: mine,
    got,
    closed: () => closed,
    async join(): Promise<void> {
      const challenge = await until('a challenge', () => got.find((m) => m.type === 'challenge'));
      mine.send(joinFor(M, challenge.nonce!));
      await until('accepted', () => got.some((m) => m.type === 'accepted'));
    },
  };
}

function entryOn(server: string): DirectoryEntry {
  return {
    id: clientIdFor(randomBytes(32)),
    name: 'on-member',
    group: 'memory',
    platform: 'test',
    address: '127.0.0.1',
    server,
    connectedAt: new Date().toISOString(),
    key: KEY_NAME,
  };
}

test('a member joins, reports its clients, and its clients leave the directory with its link', async () => {
  const p = primary();
  const m = memberEnd(p);
  await m.join();
  const [a, b] = [entryOn(M), entryOn(M)];
  m.link.send({ type: 'clients', entries: [a, b], last: true });
  await until('both in the directory', () => p.directory.get(a.id) && p.directory.get(b.id));
  m.link.send({ type: 'client-changes', up: [], down: [a.id] });
  await until('a gone', () => !p.directory.get(a.id));
  m.link.send({ type: 'load', sessions: 3 });
  assert.equal(p.behaviour.servers().find((r) => r.address === M)?.status, 'up');
  m.link.close(1000, 'member stopping');
  await until('b gone with the link', () => !p.directory.get(b.id));
  assert.notEqual(p.behaviour.servers().find((r) => r.address === M)?.status, 'up');
});

test('a newer link from the same member replaces the older; the older one closing drops nothing', async () => {
  const p = primary();
  const first = memberEnd(p);
  await first.join();
  const entry = entryOn(M);
  first.link.send({ type: 'clients', entries: [entry], last: true });
  await until('in the directory', () => p.directory.get(entry.id));
  const second = memberEnd(p);
  await second.join();
  await until('the older link closed', () => first.closed() === CloseCodes.DUPLICATE_CLIENT);
  // What the older link reported stays until the newer one's list is whole.
  assert.ok(p.directory.get(entry.id));
  second.link.send({ type: 'clients', entries: [], last: true });
  await until('dropped by the whole new list', () => !p.directory.get(entry.id));
});

test('a link that does not join first, or joins twice, is closed as a bad message', async () => {
  const p = primary();
  const early = memberEnd(p);
  await until('a challenge', () => early.got.length > 0);
  early.link.send({ type: 'load', sessions: 1 });
  await until('closed', () => early.closed() === CloseCodes.BAD_MESSAGE);

  const twice = memberEnd(p);
  await twice.join();
  twice.link.send(joinFor(M, 'whatever'));
  await until('closed', () => twice.closed() === CloseCodes.BAD_MESSAGE);
});

test('a long client list is applied a slice a turn, in order, and dropped with its link', async () => {
  const p = primary();
  const m = memberEnd(p);
  await m.join();
  // As a member sends its list: in batches that fit one cluster message (about 300 entries each).
  const all = Array.from({ length: 5 * REPORT_SLICE }, () => entryOn(M));
  const batches = clientBatches(all);
  batches.forEach((entries, i) => m.link.send({ type: 'clients', entries, last: i === batches.length - 1 }));
  const gone = all[all.length - 7]!;
  m.link.send({ type: 'client-changes', up: [], down: [gone.id] });
  // Looked at once a turn of the event loop: the list comes in slices, the loop turning between
  // them (in one go it held the loop for seconds at 36,000 and the members' links timed out).
  const seen = new Set<number>();
  await new Promise<void>((resolve) => {
    const look = () => {
      seen.add(p.directory.size);
      if (p.directory.size === 5 * REPORT_SLICE - 1 || m.closed() !== undefined) resolve();
      else setImmediate(look);
    };
    look();
  });
  const partial = [...seen].filter((n) => n > 0 && n < 5 * REPORT_SLICE - 1);
  assert.ok(partial.length >= 3, `sizes seen between turns: ${[...seen].join(', ')}`);
  assert.equal(p.directory.get(gone.id), undefined, 'the departure applied after the list that had it');

  // A link lost with reports still queued: nothing of them is applied after its clients were dropped.
  const second = memberEnd(p);
  await second.join();
  await until('the first link replaced', () => m.closed() === CloseCodes.DUPLICATE_CLIENT);
  const late = clientBatches(Array.from({ length: 3 * REPORT_SLICE }, () => entryOn(M)));
  late.forEach((entries, i) => second.link.send({ type: 'clients', entries, last: i === late.length - 1 }));
  second.link.close(1000, 'member stopping');
  await until('the member gone', () => p.behaviour.servers().find((r) => r.address === M)?.status !== 'up');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(p.directory.size, 0, 'no entry of the lost link applied after its close');
});

test("a re-linking member's list announces only what changed: a connection already listed is not gated again", async () => {
  const p = primary();
  // As a takeover lists them from the secondary's copy: a, c and d, on the member.
  const [a, c, d, b] = [entryOn(M), entryOn(M), entryOn(M), entryOn(M)];
  p.directory.upsertMany([a, c, d]);
  const announced: string[] = [];
  p.directory.on('up', (entry) => announced.push(entry.id));
  const m = memberEnd(p);
  await m.join();
  const reconnected = { ...c, connectedAt: new Date(Date.parse(c.connectedAt) + 1000).toISOString() };
  m.link.send({ type: 'clients', entries: [a, b], last: false });
  m.link.send({ type: 'clients', entries: [reconnected], last: true });
  await until('the list applied', () => p.directory.get(b.id) && !p.directory.get(d.id));
  assert.deepEqual(announced.sort(), [b.id, c.id].sort(), 'the new client and the new connection, not a');
  assert.equal(p.directory.get(a.id)?.server, M, 'a stays listed');
  assert.equal(p.directory.get(c.id)?.connectedAt, reconnected.connectedAt);
  assert.equal(p.directory.get(d.id), undefined, 'd, not in the list, is dropped');
});

test('a member is fed the directory from the moment it is flagged the secondary, and no longer once it is not', async () => {
  const p = primary();
  const m = memberEnd(p);
  await m.join();
  p.connect('on-primary');
  const fed = () => m.got.filter((msg) => msg.type === 'directory') as unknown as { reset: boolean; up: unknown[] }[];
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fed().length, 0, 'a plain member gets no copy');

  p.changeConfig((store) => store.setServer(M, { secondary: true }));
  await until('the whole list, on the flag', () => fed().length === 1);
  assert.equal(fed()[0]!.reset, true);
  assert.equal(fed()[0]!.up.length, 1);
  p.connect('arrives-later');
  await until('then the changes', () => fed().length === 2);

  p.changeConfig((store) => store.setServer(M, { secondary: false }));
  p.connect('after-the-flag-moved');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(fed().length, 2, 'nothing once it is not the secondary');
});
