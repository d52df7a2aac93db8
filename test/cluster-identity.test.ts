/**
 * docs/security.md, client identity in a cluster: the primary places a client on its key proof (and
 * an id derived from its key) alone, without the Ed25519 verification; the server that keeps the
 * client verifies the signature over its own nonce. A forged identity is therefore redirected by the
 * primary and refused (4007, logged) by the member. A key proven on the upgrade request itself
 * (src/protocol/placementRequest.ts) is redirected by HTTP 307, with no WebSocket; a wrong or stale
 * one takes the challenge path. Servers on 127.0.46.x; the primary's weight is 0, so every client
 * is redirected to the one member.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { ClientAgent } from '../src/client/agent.js';
import { newIdentity } from '../src/client/identity.js';
import { PLACEMENT_MAX_SKEW_MS, placementHeaders } from '../src/protocol/placementRequest.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { keyProof } from '../src/protocol/proof.js';
import { request } from './helpers/api.js';
import { Cluster, type ServerNode } from './helpers/cluster.js';
import { waitFor } from './helpers/harness.js';
import { helloFor, RawPeer } from './helpers/sb.js';

let cluster: Cluster;
let member: ServerNode;

before(async () => {
  cluster = await Cluster.start({ subnet: 46, members: [{}], primaryWeight: 0 });
  member = cluster.members[0]!;
});

after(() => cluster?.close());

/** Challenge, then the hello `make` builds from the challenge's nonce; the peer, for what follows. */
async function hello(address: string, make: (nonce: string) => Record<string, unknown>): Promise<RawPeer> {
  const peer = RawPeer.open(address, '/v1/client');
  const challenge = await peer.next('challenge');
  peer.send(make(challenge.nonce as string));
  return peer;
}

test('a genuine client is redirected by the primary and welcomed by the member', async () => {
  const identity = newIdentity();
  const atPrimary = await hello(cluster.primary.address, (nonce) => helloFor(cluster.key, nonce, { identity }));
  assert.equal((await atPrimary.next('redirect')).to, member.address);
  const atMember = await hello(member.address, (nonce) => helloFor(cluster.key, nonce, { identity }));
  assert.equal((await atMember.next('welcome')).server, member.address);
  atMember.terminate();
});

test('a replayed signature is redirected by the primary (it verifies no signature to redirect) and refused by the member', async () => {
  const identity = newIdentity();
  const stale = identity.sign('a-nonce-of-another-connection');
  const forged = (nonce: string) => ({ ...helloFor(cluster.key, nonce, { identity }), signature: stale });
  const atPrimary = await hello(cluster.primary.address, forged);
  assert.equal((await atPrimary.next('redirect')).to, member.address);
  const from = member.proc!.lines.length;
  const atMember = await hello(member.address, forged);
  const closed = await atMember.closeResult();
  assert.equal(closed.code, CloseCodes.BAD_IDENTITY);
  assert.match(closed.reason, /did not prove its identity/);
  const line = await member.proc!.waitForLine(
    (l) => l.msg === 'client refused' && l.closeCode === CloseCodes.BAD_IDENTITY,
    'the member logs the refusal',
    15_000,
    from,
  );
  assert.match(String(line.reason), new RegExp(identity.id));
});

test('the primary refuses at once, without a redirect, an id not derived from the key and a wrong key', async () => {
  const mine = newIdentity();
  const other = newIdentity();
  // Another client's id with my key pair (and a key proof made for that id).
  const claimed = await hello(cluster.primary.address, (nonce) => ({
    ...helloFor(cluster.key, nonce, { identity: mine }),
    id: other.id,
    proof: keyProof(cluster.key, 'client', nonce, other.id),
  }));
  assert.equal((await claimed.closeResult()).code, CloseCodes.BAD_IDENTITY);
  assert.ok(!claimed.messages.some((m) => m.type === 'redirect'), 'no redirect for a claimed id');
  const wrongKey = await hello(cluster.primary.address, (nonce) =>
    helloFor('not-the-key-at-all', nonce, { identity: mine }),
  );
  assert.equal((await wrongKey.closeResult()).code, CloseCodes.BAD_KEY);
  assert.ok(!wrongKey.messages.some((m) => m.type === 'redirect'), 'no redirect without the key');
});

/** A WebSocket upgrade to /v1/client with these headers: the raw HTTP answer (307) or the upgrade (101). */
function upgradeRequest(
  address: string,
  headers: Record<string, string>,
): Promise<{ status: number; location?: string; body: string }> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const req = http.request({
      host,
      port,
      path: '/v1/client',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The primary's redirects so far, by when they were made ('upgrade' or 'hello'). */
async function redirectsOn(on: string): Promise<number> {
  const metrics = await request(cluster.primary.address, 'GET', '/metrics');
  return Number(new RegExp(`^switchboard_redirects_total\\{on="${on}"\\} (\\d+)`, 'm').exec(metrics.text)?.[1] ?? 0);
}

test('a key proven on the upgrade request is redirected by HTTP 307 before any WebSocket exists', async () => {
  const { id } = newIdentity();
  const answer = await upgradeRequest(cluster.primary.address, placementHeaders(cluster.key, id, Date.now()));
  assert.equal(answer.status, 307);
  assert.equal(answer.location, `http://${member.address}/v1/client`);
  assert.deepEqual(JSON.parse(answer.body), { redirect: { to: member.address, reason: 'placed by weight' } });
});

test('a wrong key, a stale or future time, or another id on the upgrade request gets no redirect: the challenge path answers', async () => {
  const { id } = newIdentity();
  const now = Date.now();
  const cases: Record<string, Record<string, string>> = {
    'wrong key': placementHeaders('not-the-key-at-all', id, now),
    'stale time': placementHeaders(cluster.key, id, now - PLACEMENT_MAX_SKEW_MS - 60_000),
    'future time': placementHeaders(cluster.key, id, now + PLACEMENT_MAX_SKEW_MS + 60_000),
    'proof of another id': { ...placementHeaders(cluster.key, id, now), 'x-switchboard-client-id': newIdentity().id },
    'no headers': {},
  };
  for (const [what, headers] of Object.entries(cases)) {
    assert.equal((await upgradeRequest(cluster.primary.address, headers)).status, 101, what);
  }
  // And on that path a wrong key is still refused with its close code, never redirected.
  const peer = RawPeer.open(cluster.primary.address, '/v1/client', {
    headers: placementHeaders('not-the-key-at-all', id, now),
  });
  const challenge = await peer.next('challenge');
  peer.send(helloFor('not-the-key-at-all', challenge.nonce as string, { identity: newIdentity() }));
  assert.equal((await peer.closeResult()).code, CloseCodes.BAD_KEY);
  assert.ok(!peer.messages.some((m) => m.type === 'redirect'));
});

test('a real client follows the 307 and is welcomed by the member; the primary counts a redirect on the upgrade', async () => {
  const before = await redirectsOn('upgrade');
  const agent = new ClientAgent({
    gateway: cluster.primary.address,
    key: cluster.key,
    identity: newIdentity(),
    name: 'follows-307',
    policy: { allowForward: new Set(), allowExec: false },
    dial: { tls: false },
  });
  try {
    agent.start();
    await waitFor(() => agent.status === 'connected', 'the client connected', 30_000);
    assert.equal(agent.server, member.address);
    assert.equal(await redirectsOn('upgrade'), before + 1);
  } finally {
    agent.stop();
  }
});
