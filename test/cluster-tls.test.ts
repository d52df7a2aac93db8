/**
 * Clusters with TLS: the calls servers make to each other (the returning primary asking the acting
 * secondary for its status and configuration, then telling it to step down) reach the other server
 * however it listens, so failover and failback work when every server runs `--tls-only` (no plain
 * HTTP anywhere), and when the primary serves TLS but the secondary serves plain HTTP only; and the
 * secondary's election questions reach a member that has a certificate of its own; and a man in the
 * middle of a member's unpinned TLS link gets nothing through.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { after, test } from 'node:test';
import tls from 'node:tls';
import { selfSignedTls } from '../src/server/tlsFiles.js';
import { configurePrimary, type Health, PORT, SECRET } from './helpers/failover.js';
import { Proc, tempDir } from './helpers/harness.js';

const dir = tempDir('sb-cluster-tls-');
type Node = { address: string; data: string };
const procs: Proc[] = [];

after(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  dir.remove();
});

function server(args: string[]): Proc {
  const proc = new Proc(['server', ...args], { SWITCHBOARD_CLUSTER_SECRET: SECRET });
  procs.push(proc);
  return proc;
}

function healthOf(address: string, secure: boolean): Promise<Health> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    (secure ? https : http)
      .get({ host, port, path: '/healthz', rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(JSON.parse(body) as Health));
      })
      .once('error', reject);
  });
}

/**
 * A primary (self-signed) and its secondary on `subnet`; the secondary links to the primary in TLS,
 * pinning it, and serves TLS or not as `secondaryTls` says. Then kill -9 of the primary, the takeover, the
 * primary's return and its taking the role back.
 */
async function failoverAndBack(
  subnet: string,
  primaryFlags: string[],
  secondaryTls: { secure: boolean; flags: (certDir: string) => string[] },
): Promise<void> {
  const primary = { address: `${subnet}.11:${PORT}`, data: join(dir.path, subnet, 'p') };
  const secondary = { address: `${subnet}.12:${PORT}`, data: join(dir.path, subnet, 's') };
  const secondarySecure = secondaryTls.secure;
  await configurePrimary(primary.data, secondary.address);
  const startPrimary = async () => {
    const proc = server([
      '--data',
      primary.data,
      '--role',
      'primary',
      '--listen',
      primary.address,
      '--tls-self-signed',
      ...primaryFlags,
    ]);
    return { proc, fingerprint: String((await proc.waitForMsg('listening')).fingerprint) };
  };
  const first = await startPrimary();
  const second = server([
    '--data',
    secondary.data,
    '--role',
    'member',
    '--listen',
    secondary.address,
    '--primary',
    `https://${primary.address}`,
    '--primary-fingerprint',
    first.fingerprint,
    ...secondaryTls.flags(primary.data),
  ]);
  await second.waitForLine(
    (l) => l.msg === 'linked to the acting primary' && l.acting === primary.address,
    'the secondary linked to the primary',
    30_000,
  );
  // It knows it is the secondary once it holds the configuration (the server table says so).
  await second.waitForMsg('configuration replicated', 30_000);

  first.proc.child.kill('SIGKILL');
  await first.proc.exited;
  const takeover = await second.waitForMsg('the secondary takes over as acting primary', 30_000);
  assert.equal((await healthOf(secondary.address, secondarySecure)).acting, true);

  const mark = second.lines.length;
  const back = await startPrimary();
  const reclaimed = await back.proc.waitForMsg('took the primary role back', 30_000);
  assert.ok(
    Number(reclaimed.epoch) > Number(takeover.epoch),
    `epoch ${String(reclaimed.epoch)} > ${String(takeover.epoch)}`,
  );
  await second.waitForLine(
    (l) => l.msg === 'linked to the acting primary' && l.acting === primary.address,
    'the secondary linked to the returning primary',
    30_000,
    mark,
  );
  const [p, s] = await Promise.all([healthOf(primary.address, true), healthOf(secondary.address, secondarySecure)]);
  assert.deepEqual([p.acting, s.acting], [true, false]);
  assert.equal(s.epoch, p.epoch);
}

test('every server --tls-only: failover after kill -9 of the primary, and the returning primary takes its role back over TLS', async () => {
  // The secondary serves the primary's certificate, as a cluster behind one certificate does.
  const flags = (certDir: string) => [
    '--tls-only',
    '--tls-cert',
    join(certDir, 'tls-cert.pem'),
    '--tls-key',
    join(certDir, 'tls-key.pem'),
  ];
  await failoverAndBack('127.0.102', ['--tls-only'], { secure: true, flags });
});

test('a TLS primary and a plain secondary: the returning primary, finding no TLS there, takes its role back in plain HTTP', async () => {
  await failoverAndBack('127.0.103', [], { secure: false, flags: () => [] });
});

test('servers with certificates of their own: a secondary cut off from the primary alone asks the member in TLS, learns it still reaches the primary, and does not take over', async () => {
  const subnet = '127.0.104';
  const [primary, secondary, member] = ['p', 's', 'm'].map((name, i) => ({
    address: `${subnet}.${11 + i}:${PORT}`,
    data: join(dir.path, subnet, name),
  })) as [Node, Node, Node];
  await configurePrimary(primary.data, secondary.address, [member.address]);
  const p = server(['--data', primary.data, '--role', 'primary', '--listen', primary.address, '--tls-self-signed']);
  const fingerprint = String((await p.waitForMsg('listening')).fingerprint);
  // Each member makes its own self-signed certificate: no server can pin another's but its primary's.
  const startMember = (node: Node, extra: string[] = []) =>
    server([
      '--data',
      node.data,
      '--role',
      'member',
      '--listen',
      node.address,
      '--primary',
      `https://${primary.address}`,
      '--primary-fingerprint',
      fingerprint,
      '--tls-self-signed',
      ...extra,
    ]);
  for (const node of [secondary, member]) {
    const proc = startMember(node);
    await proc.waitForMsg('configuration replicated', 30_000);
    if (node === secondary) await proc.stop('SIGKILL');
  }

  const cut = startMember(secondary, ['--fault-block', primary.address]);
  const refused = await cut.waitForMsg('primary lost, not taking over', 30_000);
  assert.match(String(refused.reason), /1 of 1 other servers still reach the primary/);
  assert.equal(
    cut.lines.some((l) => l.msg === 'the secondary takes over as acting primary'),
    false,
  );
  assert.equal((await healthOf(secondary.address, true)).acting, false);
});

test('a man in the middle of an unpinned TLS link, with a certificate of its own: the primary refuses the join it relays (4015), so no link and no configuration goes through it', async () => {
  const subnet = '127.0.105';
  const primary = { address: `${subnet}.11:${PORT}`, data: join(dir.path, subnet, 'p') };
  const member = { address: `${subnet}.12:${PORT}`, data: join(dir.path, subnet, 'm') };
  await configurePrimary(primary.data, member.address);
  const p = server(['--data', primary.data, '--role', 'primary', '--listen', primary.address, '--tls-self-signed']);
  await p.waitForMsg('listening');

  // It ends TLS from the member with its own certificate, opens TLS to the primary, and relays
  // (and reads) everything between them.
  const mitmDir = join(dir.path, subnet, 'mitm');
  mkdirSync(mitmDir, { recursive: true });
  const { cert, key } = await selfSignedTls(mitmDir, [`${subnet}.20`]);
  const read: Buffer[] = [];
  const mitm = tls.createServer({ cert, key }, (fromMember) => {
    const toPrimary = tls.connect({ host: `${subnet}.11`, port: PORT, rejectUnauthorized: false });
    for (const [from, to] of [
      [fromMember, toPrimary],
      [toPrimary, fromMember],
    ] as const) {
      from.on('data', (chunk: Buffer) => read.push(chunk));
      from.pipe(to);
      from.on('error', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => mitm.listen(PORT, `${subnet}.20`, resolve));
  try {
    const m = server([
      '--data',
      member.data,
      '--role',
      'member',
      '--listen',
      member.address,
      '--primary',
      `https://${subnet}.20:${PORT}`,
    ]);
    const refused = await p.waitForMsg('cluster link refused', 30_000);
    assert.equal(refused.closeCode, 4015, JSON.stringify(refused));
    // It did read the link: the primary's challenge (the member's frames are masked).
    assert.match(Buffer.concat(read).toString(), /"type":"challenge"/, 'the man in the middle reads the link');
    assert.equal(
      m.lines.some((l) => l.msg === 'linked to the acting primary' || l.msg === 'configuration replicated'),
      false,
    );
    await m.stop('SIGKILL');
  } finally {
    mitm.close();
  }
});
