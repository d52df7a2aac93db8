/**
 * Issue 15, "tests of the roles in one process": every role runs on MemoryHosts (real store,
 * broker, directory; links, data connections and signed calls in memory, test/helpers/memoryCluster.ts),
 * without a socket. First one set of cases every role must pass, as a router library runs the same
 * cases against every router; then the cluster's flows (placement, a brokered session across
 * servers, replication, failover and failback) end to end in memory.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { PrimaryRole } from '../src/cluster/primaryRole.js';
import { StandbyRole } from '../src/cluster/standbyRole.js';
import { StandingInRole } from '../src/cluster/standingInRole.js';
import { memoryLinkPair } from '../src/net/memoryLink.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { RpcCalls } from '../src/protocol/clusterRpc.js';
import { ErrorCodes, SwitchboardError } from '../src/protocol/errors.js';
import { KEY_NAME, MemoryWorld, until, type MemoryHost } from './helpers/memoryCluster.js';

const SECRET = 'in-memory-cluster-secret-0123';
const P = '127.0.0.1:1001';
const S = '127.0.0.1:1002';
const M = '127.0.0.1:1003';
const worlds: MemoryWorld[] = [];
after(() => worlds.forEach((w) => w.stopAll()));

function world(): MemoryWorld {
  const w = new MemoryWorld();
  worlds.push(w);
  return w;
}

/** The table a cluster's servers share: a key, S (the secondary) and M. */
function configure(host: MemoryHost, { weightP = 100 } = {}): MemoryHost {
  host.store.addKey(KEY_NAME, 'in-memory-key-value-0123');
  host.store.setSetting('primary-weight', String(weightP));
  host.store.addServer({ address: S, weight: 100, enabled: true, secondary: true });
  host.store.addServer({ address: M, weight: 100, enabled: true, secondary: false });
  host.config.check();
  return host;
}

function linkedTo(host: MemoryHost, primary: string): Promise<unknown> {
  return until(`${host.advertise} linked to ${primary}`, () => {
    const a = host.behaviour.acting();
    return !a.acting && a.primary === primary && host.behaviour.replicationLagSeconds?.() === 0;
  });
}

/** Each role under test, built in a world of its own; `subject` is the host whose role the cases check. */
interface RoleCase {
  name: string;
  build(): Promise<{ subject: MemoryHost; acting: boolean; inCluster: boolean }>;
}

const cases: RoleCase[] = [
  {
    name: 'standalone',
    async build() {
      const subject = world().add(P, 'standalone').start();
      return { subject, acting: true, inCluster: false };
    },
  },
  {
    name: 'primary',
    async build() {
      const subject = configure(world().add(P, 'primary', (h) => new PrimaryRole(h, { secret: SECRET }))).start();
      return { subject, acting: true, inCluster: true };
    },
  },
  {
    name: 'member (standing-in role, linked)',
    async build() {
      const w = world();
      configure(w.add(P, 'primary', (h) => new PrimaryRole(h, { secret: SECRET }))).start();
      const subject = configure(
        w.add(M, 'member', (h) => new StandingInRole(h, { secret: SECRET, primary: P })),
      ).start();
      await linkedTo(subject, P);
      return { subject, acting: false, inCluster: true };
    },
  },
  {
    name: 'secondary standing in for a lost primary',
    async build() {
      const w = world();
      const subject = configure(
        w.add(S, 'member', (h) => new StandingInRole(h, { secret: SECRET, primary: P })),
      ).start();
      // No primary at P, and M does not answer either: no majority reaches the primary.
      await until('the secondary acting', () => subject.behaviour.acting().acting);
      return { subject, acting: true, inCluster: true };
    },
  },
  {
    name: 'standby of a standalone server (primary up)',
    async build() {
      const w = world();
      w.add(P, 'standalone', (h) => new PrimaryRole(h, { secret: SECRET })).start();
      const subject = w.add(S, 'standby', (h) => new StandbyRole(h, { secret: SECRET, primary: P })).start();
      await linkedTo(subject, P);
      return { subject, acting: false, inCluster: true };
    },
  },
];

for (const roleCase of cases) {
  describe(`role contract: ${roleCase.name}`, () => {
    test('epoch is a whole number; acting() names the primary when not acting', async () => {
      const { subject, acting } = await roleCase.build();
      const epoch = subject.behaviour.epoch();
      assert.ok(Number.isInteger(epoch) && epoch >= 0, `epoch ${epoch}`);
      const a = subject.behaviour.acting();
      assert.equal(a.acting, acting);
      if (!a.acting) assert.ok(a.primary && a.primary !== subject.advertise, `names the primary: ${a.primary}`);
    });

    test('a client that comes up is in its server directory, and gone when it goes down', async () => {
      const { subject } = await roleCase.build();
      const client = subject.connect('dir-client');
      assert.equal(subject.directory.get(client.id)?.server, subject.advertise);
      client.close(1000, 'bye');
      assert.equal(subject.directory.get(client.id), undefined);
    });

    test('place(): a client is kept, or sent elsewhere with a reason', async () => {
      const { subject } = await roleCase.build();
      for (let i = 0; i < 5; i++) {
        const p = subject.behaviour.place(`placed-${i}`);
        if (!p.keep) {
          assert.notEqual(p.redirect, subject.advertise, 'never redirected to itself');
          assert.ok(p.reason.length > 0);
        }
      }
    });

    test('the acting role opens a session to its own client; one that is not acting refuses', async () => {
      const { subject, acting } = await roleCase.build();
      const client = subject.connect('session-client');
      if (acting) {
        assert.equal(await subject.echoThrough(client.entry, 'hello through the broker'), 'hello through the broker');
        assert.ok(client.received.some((m) => m.type === 'session'));
      } else {
        await assert.rejects(
          subject.behaviour.openFarEnd(client.entry, { kind: 'forward', port: 7 }, 'tester'),
          (err: SwitchboardError) => err.code === ErrorCodes.NOT_PRIMARY,
        );
      }
    });

    test('a cluster link: the acting primary challenges it, any other role closes it with a code', async () => {
      const { subject, acting, inCluster } = await roleCase.build();
      const [mine, theirs] = memoryLinkPair('127.0.0.1:9999', subject.advertise);
      const got: unknown[] = [];
      const closed = new Promise<number>((resolve) => mine.onClose((code) => resolve(code)));
      mine.onMessage((data) => got.push(JSON.parse(String(data))));
      subject.behaviour.acceptClusterLink(theirs);
      if (acting && inCluster) {
        await until('a challenge', () => got.length > 0);
        assert.equal((got[0] as { type: string }).type, 'challenge');
        mine.close(1000, 'done');
      } else {
        const code = await closed;
        assert.ok([CloseCodes.NOT_IN_CLUSTER, CloseCodes.NOT_PRIMARY].includes(code as never), `closed with ${code}`);
      }
    });

    test('status answers fit the call schema; a server outside a cluster refuses', async () => {
      const { subject, acting, inCluster } = await roleCase.build();
      const answer = subject.behaviour.rpc({ method: 'status', params: {}, from: M });
      if (!inCluster) return assert.rejects(answer, (err: SwitchboardError) => err.code === ErrorCodes.NOT_IN_CLUSTER);
      const status = RpcCalls.status.result.parse(await answer);
      assert.equal(status.acting, acting);
      assert.equal(status.epoch, subject.behaviour.epoch());
    });

    test('servers(): each address once; this server, if listed, is up', async () => {
      const { subject } = await roleCase.build();
      const rows = subject.behaviour.servers();
      assert.equal(new Set(rows.map((r) => r.address)).size, rows.length, JSON.stringify(rows));
      const self = rows.find((r) => r.address === subject.advertise);
      if (self) assert.equal(self.status, 'up');
    });
  });
}

describe('cluster flows in memory', () => {
  test('placement, a brokered session across servers, and replication', async () => {
    const w = world();
    // The primary's own weight is 0: every client goes to a member.
    const p = configure(
      w.add(P, 'primary', (h) => new PrimaryRole(h, { secret: SECRET })),
      { weightP: 0 },
    ).start();
    const m = configure(w.add(M, 'member', (h) => new StandingInRole(h, { secret: SECRET, primary: P }))).start();
    const s = configure(w.add(S, 'member', (h) => new StandingInRole(h, { secret: SECRET, primary: P }))).start();
    await linkedTo(m, P);
    await linkedTo(s, P);

    const placed = p.behaviour.place('arriving');
    assert.equal(placed.keep, false);
    assert.ok(!placed.keep && [M, S].includes(placed.redirect), JSON.stringify(placed));

    const client = m.connect('on-member');
    const entry = await until('the client in the primary directory', () => p.directory.get(client.id));
    assert.equal(entry.server, M);
    const row = p.behaviour.servers().find((r) => r.address === M);
    assert.deepEqual([row?.status, row?.clients], ['up', 1]);

    // The primary asks the member on the link, the member's broker asks its client, and the
    // primary dials the member's data connection with the ticket: bytes echo end to end.
    assert.equal(await p.echoThrough(entry, 'across two servers'), 'across two servers');

    // A key added on the primary reaches both members; only the secondary holds operators' secrets.
    p.changeConfig((store) => {
      store.addKey('k2', 'in-memory-key-value-4567');
      store.putOperator({ name: 'ops', passwordHash: 'scrypt$x', role: 'operator', keys: ['k2'] });
    });
    for (const host of [m, s])
      await until(`k2 on ${host.advertise}`, () => host.store.keys().some((k) => k.name === 'k2'));
    assert.equal(s.store.operatorSecrets('ops')?.passwordHash, 'scrypt$x');
    assert.equal(m.store.operatorSecrets('ops')?.passwordHash, 'withheld');
  });

  /** A primary, the secondary and a member, both linked to the primary. */
  async function linkedCluster() {
    const w = world();
    const p = configure(w.add(P, 'primary', (h) => new PrimaryRole(h, { secret: SECRET }))).start();
    const s = configure(w.add(S, 'member', (h) => new StandingInRole(h, { secret: SECRET, primary: P }))).start();
    const m = configure(w.add(M, 'member', (h) => new StandingInRole(h, { secret: SECRET, primary: P }))).start();
    await linkedTo(s, P);
    await linkedTo(m, P);
    return { p, s, m };
  }

  test('failover to the secondary, then failback to the returning primary', async () => {
    const { p, s, m } = await linkedCluster();
    const onMember = m.connect('stays-on-m');
    const before = p.behaviour.epoch();

    // The primary is cut off: its links drop, and nobody reaches it.
    p.down = true;
    p.behaviour.stop();
    await until('the secondary acting', () => s.behaviour.acting().acting);
    const takeover = s.behaviour.epoch();
    assert.ok(takeover > before, 'a higher epoch');
    await linkedTo(m, S);
    const entry = await until('the member client on the acting secondary', () => s.directory.get(onMember.id));
    assert.equal(await s.echoThrough(entry, 'via the acting secondary'), 'via the acting secondary');
    s.changeConfig((store) => store.addKey('during', 'in-memory-key-value-8910'));

    // The primary returns: it takes the newer configuration, then its role, at a higher epoch.
    p.down = false;
    p.start();
    await until('the secondary stepped down', () => !s.behaviour.acting().acting, 15_000);
    assert.ok(
      p.store.keys().some((k) => k.name === 'during'),
      'the key written during the failover came back',
    );
    assert.ok(p.behaviour.epoch() > takeover, `failback epoch ${p.behaviour.epoch()} > ${takeover}`);
    await linkedTo(m, P);
    await linkedTo(s, P);
    assert.equal(onMember.closed, undefined, 'the member client was never disturbed');
  });

  test('a member that cannot answer the election in time has already said it lost the primary', async () => {
    const { p, s, m } = await linkedCluster();
    // The lost primary's clients fill the member: the secondary's question to it is never answered.
    m.swamped = true;
    p.down = true;
    p.behaviour.stop();
    await until('the secondary acting', () => s.behaviour.acting().acting);
  });
});
