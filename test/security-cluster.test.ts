/**
 * docs/security.md, "Servers": a real cluster (primary with TLS, secondary, member) on 127.0.71.x.
 * - A rogue member with a wrong secret is refused (4015) and gets no configuration; one with the
 *   secret but not in the server table is refused (4016); a forged join cannot replace a real member;
 *   an unauthenticated link gets the ordinary 64 KiB frame limit, so a flood of huge frames costs nothing.
 * - A process posing as the primary: the member's join carries an HMAC, never the secret; a primary
 *   that cannot prove the secret is refused (4015), one with an older epoch too (4017), and the
 *   configuration either sends right behind is not applied.
 * - Signed cluster requests (POST /v1/cluster/rpc): forged, tampered, old, future and replayed
 *   requests are refused; a reply is bound to the request's nonce; step-down only from the primary.
 * - A plain member's replicated store (its SQLite files, WAL included) holds no operator password
 *   hash, no TOTP seed and no TLS key of the primary; the secondary's holds the operators' secrets.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CLUSTER_MEMBER_PURPOSE,
  CLUSTER_PRIMARY_PURPOSE,
  CLUSTER_PROTOCOL_VERSION,
  linkSalt,
  memberProofText,
  openConfig,
  primaryProofText,
  sealConfig,
} from '../src/protocol/clusterMessages.js';
import {
  openReply,
  RPC_PATH,
  signReply,
  signRequest,
  verifyReply,
  type RpcRequest,
} from '../src/protocol/clusterRpc.js';
import { keyProof, newNonce } from '../src/protocol/proof.js';
import { ConfigStore, type ConfigSnapshot } from '../src/store/configStore.js';
import { addOperator, currentTotp, enrolTotp, login, request } from './helpers/api.js';
import { Proc, runCli, tempDir, waitFor } from './helpers/harness.js';
import { freePort, RawPeer, stopAll } from './helpers/sb.js';
import { rssBytes } from './helpers/cluster.js';
import { MAX_MESSAGE_BYTES } from '../src/protocol/messages.js';

const dir = tempDir('sb-sec-cluster-');
const SECRET = 'security-cluster-secret-5f1c2a9e7b';
const WRONG_SECRET = 'not-the-cluster-secret-000000000';
const KEY = 'security-cluster-key-0a1b2c3d4e5f';
const PW = { admin: 'cluster-admin-pw-7Qx!', ops: 'cluster-ops-pw-9Zy!' };
const procs: Proc[] = [];
let port: number;
const at = (host: number) => `127.0.71.${host}:${port}`;
let P: string, S: string, M: string;
let adminSeed: string;
let adminToken: string;

function data(name: string): string {
  return join(dir.path, name);
}

function server(name: string, args: string[], secret = SECRET): Proc {
  const proc = new Proc(['server', '--data', data(name), ...args], { SWITCHBOARD_CLUSTER_SECRET: secret });
  procs.push(proc);
  return proc;
}

function member(name: string, address: string, primary: string, secret = SECRET): Proc {
  return server(name, ['--role', 'member', '--listen', address, '--advertise', address, '--primary', primary], secret);
}

async function cli(args: string[]): Promise<string> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`switchboard ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface OperatorRow {
  name: string;
  password_hash: string;
  totp_secret: string | null;
}

function operatorsIn(name: string): OperatorRow[] {
  const db = new Database(join(data(name), 'switchboard.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT name, password_hash, totp_secret FROM operators ORDER BY name').all() as OperatorRow[];
  } finally {
    db.close();
  }
}

function configVersionOf(name: string): number {
  const db = new Database(join(data(name), 'switchboard.db'), { readonly: true, fileMustExist: true });
  try {
    return Number(
      (db.prepare("SELECT value FROM meta WHERE name = 'config_version'").get() as { value: string }).value,
    );
  } finally {
    db.close();
  }
}

/** Every byte of every file in a data directory (the database, its WAL and shared memory). */
function filesOf(name: string): Buffer {
  return Buffer.concat(readdirSync(data(name)).map((f) => readFileSync(join(data(name), f))));
}

async function keyNames(name: string): Promise<string[]> {
  return (JSON.parse(await cli(['config', '--data', data(name), 'key', 'list', '--json'])) as { name: string }[]).map(
    (k) => k.name,
  );
}

function rpc(address: string, body: unknown): Promise<{ status: number; body: any }> {
  return request(address, 'POST', RPC_PATH, body);
}

before(async () => {
  port = await freePort();
  [P, S, M] = [at(1), at(2), at(3)];
  const p = data('p');
  await cli(['config', '--data', p, '--create', 'key', 'add', 'k1', '--value', KEY]);
  await addOperator(p, 'admin', PW.admin, 'admin');
  await addOperator(p, 'ops', PW.ops, 'operator', ['k1']);
  adminSeed = await enrolTotp(p, 'admin');
  await cli(['config', '--data', p, 'server', 'add', S, '--secondary']);
  await cli(['config', '--data', p, 'server', 'add', M]);
  // The rogue with the wrong secret is in the table, so that only its secret is wrong.
  await cli(['config', '--data', p, 'server', 'add', at(5)]);
  // And one with the secret whose row is disabled.
  await cli(['config', '--data', p, 'server', 'add', at(10), '--disabled']);
  const primary = server('p', ['--role', 'primary', '--listen', P, '--advertise', P, '--tls-self-signed']);
  await primary.waitForMsg('listening');
  const s = member('s', S, P);
  const m = member('m', M, P);
  await Promise.all(
    [s, m].map(async (proc) => {
      await proc.waitForMsg('linked to the acting primary', 30_000);
      await proc.waitForMsg('configuration replicated', 30_000);
    }),
  );
  adminToken = (await login(P, 'admin', PW.admin, currentTotp(adminSeed))).token;
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test('a rogue member with a wrong secret is refused (4015) and gets nothing; with the secret but not in the table, or disabled there (4016), too', async () => {
  const primary = procs[0]!;
  const from = primary.lines.length;
  const wrong = member('rogue-wrong', at(5), P, WRONG_SECRET);
  const notInTable = member('rogue-unlisted', at(6), P);
  const disabled = member('rogue-disabled', at(10), P);
  const [w, n, d] = await Promise.all([
    wrong.waitForLine((l) => l.msg === 'the primary refused this server', 'the rogue refused', 20_000),
    notInTable.waitForLine((l) => l.msg === 'the primary refused this server', 'the unlisted server refused', 20_000),
    disabled.waitForLine((l) => l.msg === 'the primary refused this server', 'the disabled server refused', 20_000),
  ]);
  assert.equal(w.closeCode, 4015, JSON.stringify(w));
  assert.equal(n.closeCode, 4016, JSON.stringify(n));
  assert.equal(d.closeCode, 4016, JSON.stringify(d));
  // The primary logs each refusal too (its own process and pipe: perhaps a moment after the members).
  const refusal = (closeCode: number, reason: RegExp) =>
    primary.waitForLine(
      (l) => l.msg === 'cluster link refused' && l.closeCode === closeCode && reason.test(String(l.reason)),
      `the primary's refusal ${closeCode} ${reason}`,
      10_000,
      from,
    );
  await Promise.all([
    refusal(4015, /^cluster secret not accepted$/),
    refusal(4016, /not in the primary's server table/),
    refusal(4016, /disabled in the primary's server table/),
  ]);
  // Neither received a configuration: no key, no operator.
  assert.deepEqual(await keyNames('rogue-wrong'), []);
  assert.deepEqual(await keyNames('rogue-unlisted'), []);
  assert.deepEqual(await keyNames('rogue-disabled'), []);
  assert.deepEqual(operatorsIn('rogue-wrong'), []);
  const table = await request(P, 'GET', 'servers', undefined, { token: adminToken });
  assert.equal(table.body.find((r: { address: string }) => r.address === at(5)).status, 'down');
  assert.equal(
    table.body.find((r: { address: string }) => r.address === at(6)),
    undefined,
  );
  await stopAll([wrong, notInTable, disabled]);
});

test("a forged join in a real member's name is refused and does not replace the member's link", async () => {
  const m = procs.find((p) => p.child.spawnargs.includes(M))!;
  const fromM = m.lines.length;
  const peer = RawPeer.open(P, '/v1/cluster');
  const challenge = await peer.next('challenge');
  peer.send({
    type: 'join',
    version: CLUSTER_PROTOCOL_VERSION,
    address: M,
    nonce: newNonce(),
    proof: keyProof(
      WRONG_SECRET,
      CLUSTER_MEMBER_PURPOSE,
      challenge.nonce as string,
      memberProofText({ address: M }, ''),
    ),
    configVersion: 0,
    epoch: 0,
    sessions: 0,
  });
  assert.equal((await peer.closeResult()).code, 4015);
  // A replay of a proof made for another nonce fails the same way.
  const again = RawPeer.open(P, '/v1/cluster');
  await again.next('challenge');
  again.send({
    type: 'join',
    version: CLUSTER_PROTOCOL_VERSION,
    address: M,
    nonce: newNonce(),
    proof: keyProof(SECRET, CLUSTER_MEMBER_PURPOSE, challenge.nonce as string, memberProofText({ address: M }, '')),
    configVersion: 0,
    epoch: 0,
    sessions: 0,
  });
  assert.equal((await again.closeResult()).code, 4015);
  // A server of another version (version 1 neither seals the configuration nor binds its proofs
  // to TLS) is told so, rather than that its secret is wrong.
  const older = RawPeer.open(P, '/v1/cluster');
  const olderChallenge = await older.next('challenge');
  older.send({
    type: 'join',
    version: 1,
    address: M,
    nonce: newNonce(),
    proof: keyProof(
      SECRET,
      CLUSTER_MEMBER_PURPOSE,
      olderChallenge.nonce as string,
      memberProofText({ address: M }, ''),
    ),
    configVersion: 0,
    epoch: 0,
    sessions: 0,
  });
  const olderClose = await older.closeResult();
  assert.equal(olderClose.code, 4000);
  assert.match(
    olderClose.reason,
    new RegExp(
      `cluster protocol 1 is not compatible with this primary's ${CLUSTER_PROTOCOL_VERSION} \\(accepted: ${CLUSTER_PROTOCOL_VERSION - 1}-${CLUSTER_PROTOCOL_VERSION + 1}\\): upgrade one release at a time`,
    ),
  );
  // A peer that has proven nothing gets the same 64 KiB frame limit as anyone: a frame announcing
  // more is refused at its header (1009), before the server buffers any of it.
  const huge = RawPeer.open(P, '/v1/cluster');
  await huge.next('challenge');
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(MAX_MESSAGE_BYTES + 1), 2);
  (huge.ws as unknown as { _socket: import('node:net').Socket })._socket.write(header);
  assert.equal((await huge.closeResult()).code, 1009);
  // Twenty of them at once, each really sending 8 MiB: a server that buffered the frames would grow by
  // 160 MiB at least; this one only reads and drops what is already on its way (transient buffers).
  const rssBefore = rssBytes(procs[0]!.child.pid!);
  const flood = Array.from({ length: 20 }, () => RawPeer.open(P, '/v1/cluster'));
  await Promise.all(flood.map((peer) => peer.next('challenge')));
  for (const peer of flood) peer.ws.send(Buffer.alloc(8 * 1024 * 1024, 0x61).toString());
  // Each is closed; a peer still writing when the server drops the rest of its frame may see the
  // reset (1006) before the close frame (1009).
  for (const peer of flood) assert.ok([1009, 1006].includes((await peer.closeResult()).code));
  const grown = rssBytes(procs[0]!.child.pid!) - rssBefore;
  assert.ok(
    grown < 96 * 1024 * 1024,
    `primary RSS grew ${Math.round(grown / 2 ** 20)} MiB under 160 MiB of unauthenticated frames`,
  );
  const table = await request(P, 'GET', 'servers', undefined, { token: adminToken });
  assert.equal(table.body.find((r: { address: string }) => r.address === M).status, 'up');
  assert.ok(!m.lines.slice(fromM).some((l) => l.msg === 'link to the primary lost'), 'the real member kept its link');
});

/**
 * A process posing as a primary at `host`: it challenges every link (epoch 3) and hands each join,
 * with its raw text and the nonce it answered, to `onJoin`. close() ends its links, then itself.
 */
async function fakePrimary(
  host: string,
  onJoin: (
    ws: WebSocket,
    join: { type: string; address: string; nonce: string; proof: string },
    text: string,
    nonce: string,
  ) => void,
): Promise<{ address: string; close(): Promise<void> }> {
  const address = `${host}:${port}`;
  const wss = new WebSocketServer({ host, port, path: '/v1/cluster' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws: WebSocket) => {
    const nonce = newNonce();
    ws.send(JSON.stringify({ type: 'challenge', nonce, epoch: 3, primary: address }));
    ws.on('message', (raw) => {
      const text = raw.toString();
      const join = JSON.parse(text) as { type: string; address: string; nonce: string; proof: string };
      if (join.type === 'join') onJoin(ws, join, text, nonce);
    });
  });
  return {
    address,
    close: async () => {
      // Links first: the server's close waits for them (a member still linked would hold it).
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

test('a process posing as the primary: the join never carries the secret; no proof (4015) or an older epoch (4017) is refused, and its config ignored', async () => {
  const joins = new Map<string, { text: string; nonce: string }>();
  const closes = new Map<string, number>();
  const planted = {
    version: 99,
    keys: [{ name: 'planted', value: 'planted-key-value-000000', createdAt: new Date().toISOString() }],
    operators: [],
    servers: [],
    settings: {},
  };
  const fake = await fakePrimary('127.0.71.9', (ws, join, text, nonce) => {
    joins.set(join.address, { text, nonce });
    ws.on('close', (code) => closes.set(join.address, code));
    // The first fake has no secret; the second has it, but an older epoch than the member's.
    const secret = join.address === at(7) ? WRONG_SECRET : SECRET;
    ws.send(
      JSON.stringify({
        type: 'accepted',
        proof: keyProof(secret, CLUSTER_PRIMARY_PURPOSE, join.nonce, primaryProofText(fake.address, '')),
        epoch: 3,
        primary: fake.address,
      }),
    );
    ws.send(JSON.stringify({ type: 'config', sealed: sealConfig(secret, linkSalt(nonce, join.nonce), 1, planted) }));
  });
  const fakeAddress = fake.address;
  try {
    // The second member has followed epoch 7 before.
    const stale = ConfigStore.open(data('f2'));
    stale.setMeta('epoch', '7');
    stale.close();
    const f1 = member('f1', at(7), fakeAddress);
    const f2 = member('f2', at(8), fakeAddress);
    await f1.waitForMsg('the primary did not prove the cluster secret; refusing it', 20_000);
    const staleLine = await f2.waitForMsg('ignoring a primary with an older epoch', 20_000);
    assert.deepEqual([staleLine.epoch, staleLine.ours], [3, 7]);
    await waitFor(() => closes.size === 2, 'both members to close the link');
    assert.equal(closes.get(at(7)), 4015);
    assert.equal(closes.get(at(8)), 4017);
    for (const [address, join] of joins) {
      assert.ok(!join.text.includes(SECRET), 'the cluster secret is not in the join');
      const proof = (JSON.parse(join.text) as { proof: string }).proof;
      assert.equal(
        proof,
        keyProof(SECRET, CLUSTER_MEMBER_PURPOSE, join.nonce, memberProofText({ address }, '')),
        'the join proves the secret with an HMAC over our nonce and its address',
      );
    }
    // A moment for anything queued behind the refusal, then: nothing was applied.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await keyNames('f1'), []);
    assert.deepEqual(await keyNames('f2'), []);
    await stopAll([f1, f2]);
  } finally {
    await fake.close();
  }
});

test('a configuration replayed on the link is refused: the member takes only a higher count', async () => {
  // A primary that proves the secret (what a replaying man in the middle relays), sending one
  // configuration, then an older one again: the same sealed bytes, as a replay on a plain link would.
  const first = {
    version: 5,
    keys: [{ name: 'current', value: 'current-key-value-0000000', createdAt: new Date().toISOString() }],
    operators: [],
    servers: [],
    settings: {},
  };
  const fake = await fakePrimary('127.0.71.11', (ws, join, _text, nonce) => {
    const salt = linkSalt(nonce, join.nonce);
    ws.send(
      JSON.stringify({
        type: 'accepted',
        proof: keyProof(SECRET, CLUSTER_PRIMARY_PURPOSE, join.nonce, primaryProofText(fake.address, '')),
        epoch: 3,
        primary: fake.address,
      }),
    );
    const older = JSON.stringify({ type: 'config', sealed: sealConfig(SECRET, salt, 1, { ...first, version: 4 }) });
    ws.send(older);
    ws.send(JSON.stringify({ type: 'config', sealed: sealConfig(SECRET, salt, 2, first) }));
    ws.send(older);
  });
  const fakeAddress = fake.address;
  const f3 = member('f3', at(12), fakeAddress);
  try {
    const refused = await f3.waitForMsg('a configuration replayed on the link; refusing it', 20_000);
    assert.deepEqual([refused.seq, refused.last], [1, 2]);
    await f3.stop();
    assert.deepEqual(await keyNames('f3'), ['current'], 'the newer configuration stays');
  } finally {
    await f3.stop('SIGKILL');
    await fake.close();
  }
});

test('replicated configuration crosses the link sealed: a standby that proves the secret opens it, the wire shows none of it', async () => {
  const standby = RawPeer.open(P, '/v1/cluster');
  try {
    const challenge = await standby.next('challenge');
    const address = at(20);
    const nonce = newNonce();
    const proof = keyProof(
      SECRET,
      CLUSTER_MEMBER_PURPOSE,
      challenge.nonce as string,
      memberProofText({ address, standby: true }, ''),
    );
    standby.ws.send(
      JSON.stringify({
        type: 'join',
        version: CLUSTER_PROTOCOL_VERSION,
        address,
        nonce,
        proof,
        configVersion: 0,
        epoch: 0,
        standby: true,
        sessions: 0,
      }),
    );
    await standby.next('accepted');
    const config = await standby.next('config');
    const wire = JSON.stringify(config);
    assert.ok(
      !wire.includes(KEY) && !wire.includes('passwordHash') && !wire.includes('keys'),
      `no configuration in the clear: ${wire.slice(0, 200)}`,
    );
    // A standby gets everything, the operators' secrets included: the secret and this link open it.
    const { snapshot } = openConfig(SECRET, linkSalt(challenge.nonce as string, nonce), config.sealed as string);
    assert.ok(snapshot.keys.some((k) => k.value === KEY));
    assert.ok(
      snapshot.operators.some((op) => op.name === 'admin' && op.passwordHash.startsWith('scrypt$')),
      "with the operators' password hashes",
    );
    assert.throws(
      () => openConfig(WRONG_SECRET, linkSalt(challenge.nonce as string, nonce), config.sealed as string),
      'not with another secret',
    );
    assert.throws(
      () => openConfig(SECRET, linkSalt(newNonce(), nonce), config.sealed as string),
      'not with another link',
    );
  } finally {
    standby.ws.close();
  }
});

test('a configuration snapshot crosses the wire sealed: only the cluster secret opens it', async () => {
  // The secondary gives it to the returning primary alone (its failback); the test signs as P.
  {
    const ask = signRequest(SECRET, 'snapshot', {}, P, Date.now());
    const answer = await rpc(S, ask);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const wire = JSON.stringify(answer.body);
    assert.ok(!wire.includes(KEY), `the key's value is not on the wire: ${wire.slice(0, 200)}`);
    assert.ok(!wire.includes('passwordHash') && !wire.includes('keys'), 'nor any of the configuration in the clear');
    assert.ok(verifyReply(SECRET, ask.nonce, answer.body), 'the reply proves the secret over our nonce');
    const snapshot = openReply(SECRET, ask.nonce, answer.body) as ConfigSnapshot;
    assert.ok(
      snapshot.keys.some((k) => k.value === KEY),
      'the secret opens it to the configuration',
    );
    assert.ok(
      snapshot.operators.some((op) => op.name === 'admin' && op.passwordHash.length > 0),
      'operators included',
    );
    assert.throws(() => openReply(WRONG_SECRET, ask.nonce, answer.body), 'another secret does not open it');
    assert.throws(() => openReply(SECRET, newNonce(), answer.body), 'nor does the secret with another nonce');
  }
});

test("the operators' secrets go to no server that asks: the primary gives no snapshot, the secondary only to the primary", async () => {
  for (const [target, from] of [
    [P, M],
    [P, S],
    [S, M],
    [M, P],
  ] as const) {
    const ask = signRequest(SECRET, 'snapshot', {}, from, Date.now());
    const answer = await rpc(target, ask);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(
      answer.body.error,
      `${target} asked by ${from}: refused, not answered: ${JSON.stringify(answer.body).slice(0, 200)}`,
    );
    assert.ok(!('result' in answer.body) || answer.body.result === undefined, 'no configuration comes back');
  }
});

test('cluster requests: forged, tampered, old, future and replayed ones are refused; replies are bound to the nonce', async () => {
  const now = () => Date.now();
  const garbage = await request(P, 'POST', RPC_PATH, undefined, {
    raw: '{"method":',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(garbage.status, 400);
  assert.equal(garbage.body.error.code, 'SB_ERR_BAD_MESSAGE');
  assert.equal((await request(P, 'GET', RPC_PATH)).status, 404);

  for (const target of [P, S]) {
    const forged = await rpc(target, signRequest(WRONG_SECRET, 'snapshot', {}, M, now()));
    assert.equal(forged.status, 403, JSON.stringify(forged.body));
    assert.equal(forged.body.error.code, 'SB_ERR_CLUSTER_AUTH');
    assert.ok(!('result' in forged.body), 'nothing of the configuration comes back');

    const old = await rpc(target, signRequest(SECRET, 'status', {}, M, now() - 31_000));
    assert.equal(old.status, 403);
    assert.match(old.body.error.message, /too old/);
    const future = await rpc(target, signRequest(SECRET, 'status', {}, M, now() + 31_000));
    assert.equal(future.status, 403);

    const good = signRequest(SECRET, 'status', {}, M, now());
    const answer = await rpc(target, good);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(verifyReply(SECRET, good.nonce, answer.body), 'the reply proves the secret over our nonce');
    assert.ok(!verifyReply(SECRET, newNonce(), answer.body), 'the reply is not valid for another request');
    assert.ok(!verifyReply(WRONG_SECRET, good.nonce, answer.body));
    const replayed = await rpc(target, good);
    assert.equal(replayed.status, 403, `a replay is refused: ${JSON.stringify(replayed.body)}`);
    assert.match(replayed.body.error.message, /replayed/);

    // Any field changed after signing breaks the proof.
    const base = signRequest(SECRET, 'status', {}, M, now());
    const tampered: RpcRequest[] = [
      { ...base, method: 'snapshot' },
      { ...base, from: P },
      { ...base, params: { epoch: 99 } },
      { ...base, at: base.at + 1 },
      { ...base, nonce: newNonce() },
      { ...base, proof: base.proof.slice(0, -2) + (base.proof.endsWith('AA') ? 'BB' : 'AA') },
    ];
    for (const t of tampered) {
      const r = await rpc(target, t);
      assert.equal(r.status, 403, JSON.stringify(t));
    }
    // A reply forged by a man in the middle does not verify either.
    assert.ok(
      !verifyReply(SECRET, base.nonce, signReply(WRONG_SECRET, base.nonce, { result: { acting: true, epoch: 1000 } })),
    );
  }

  // Step-down is taken only from the configured primary, even with the secret.
  const stepDown = signRequest(SECRET, 'step-down', { epoch: 1000 }, M, now());
  const refused = await rpc(S, stepDown);
  assert.equal(refused.status, 200);
  assert.ok(verifyReply(SECRET, stepDown.nonce, refused.body));
  assert.equal(refused.body.error.code, 'SB_ERR_FORBIDDEN');
  const health = await request(S, 'GET', '/healthz');
  assert.equal(health.body.epoch < 1000, true, 'the epoch did not move');

  // An acting primary's announcement is taken only from the primary or the secondary, never with an
  // epoch older than the member's: a holder of the secret cannot send a member off to itself.
  const impostor = signRequest(SECRET, 'acting-primary', { epoch: 1000 }, '127.0.0.99:1', now());
  const notOurs = await rpc(M, impostor);
  assert.ok(verifyReply(SECRET, impostor.nonce, notOurs.body));
  assert.equal(notOurs.body.error.code, 'SB_ERR_FORBIDDEN');
  assert.match(notOurs.body.error.message, /neither the primary nor the secondary/);
  const stale = signRequest(SECRET, 'acting-primary', { epoch: 0 }, S, now());
  const staleAnswer = await rpc(M, stale);
  assert.equal(staleAnswer.body.error.code, 'SB_ERR_FORBIDDEN');
  assert.match(staleAnswer.body.error.message, /older than/);

  // An oversized body is cut off without an answer from the handler; the server stays up.
  const big = await request(P, 'POST', RPC_PATH, undefined, {
    raw: 'x'.repeat(200_000),
    headers: { 'content-type': 'application/json' },
  }).catch((err: Error) => ({ status: 0, body: err.message }));
  assert.notEqual(big.status, 500);
  assert.equal((await request(P, 'GET', '/healthz')).status, 200);
});

test("a plain member's store holds no password hash, TOTP seed or TLS key; the secondary's holds the operators' secrets", async () => {
  const check = () => {
    const onPrimary = operatorsIn('p');
    const onSecondary = operatorsIn('s');
    const onMember = operatorsIn('m');
    assert.deepEqual(
      onPrimary.map((o) => o.name),
      ['admin', 'ops'],
    );
    assert.deepEqual(onSecondary, onPrimary, 'the secondary holds the same secrets as the primary');
    assert.deepEqual(
      onMember.map((o) => [o.name, o.password_hash, o.totp_secret]),
      [
        ['admin', 'withheld', null],
        ['ops', 'withheld', null],
      ],
    );
    const memberFiles = filesOf('m');
    for (const op of onPrimary) {
      assert.ok(
        !memberFiles.includes(op.password_hash),
        `no trace of ${op.name}'s password hash in the member's files`,
      );
      if (op.totp_secret)
        assert.ok(!memberFiles.includes(op.totp_secret), `no trace of ${op.name}'s TOTP seed in the member's files`);
    }
    return onPrimary;
  };
  const before = check();
  assert.ok(before.find((o) => o.name === 'admin')!.totp_secret);
  // The primary's TLS key is server-local: never replicated.
  const tlsKey = readFileSync(join(data('p'), 'tls-key.pem'), 'utf8');
  const keyBody = tlsKey
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  assert.ok(!readdirSync(data('m')).includes('tls-key.pem'));
  for (const name of ['m', 's'])
    assert.ok(!filesOf(name).includes(keyBody.slice(0, 40)), `no trace of the primary's TLS key on ${name}`);
  // The keys themselves do replicate: members check clients against them.
  assert.deepEqual(await keyNames('m'), ['k1']);
  const shown = JSON.parse(await cli(['config', '--data', data('m'), 'operator', 'list', '--json'])) as {
    name: string;
    hasTotp: boolean;
  }[];
  assert.deepEqual(
    shown.map((o) => [o.name, o.hasTotp]),
    [
      ['admin', false],
      ['ops', false],
    ],
  );

  // A change replicates the same way: a new TOTP seed reaches the secondary and not the member.
  const seed = await enrolTotp(data('p'), 'ops');
  const version = configVersionOf('p');
  await waitFor(
    () => configVersionOf('m') === version && configVersionOf('s') === version,
    'the change to replicate',
    20_000,
  );
  const afterChange = check();
  assert.equal(afterChange.find((o) => o.name === 'ops')!.totp_secret, seed);
  assert.ok(!filesOf('m').includes(seed));
});
