/**
 * docs/security.md, client identity in a cluster: the primary places a client on its key proof (and
 * an id derived from its key) alone, without the Ed25519 verification; the server that keeps the
 * client verifies the signature over its own nonce. A forged identity is therefore redirected by the
 * primary and refused (4007, logged) by the member. Servers on 127.0.46.x; the primary's weight is
 * 0, so every client is redirected to the one member.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newIdentity } from '../src/client/identity.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { keyProof } from '../src/protocol/proof.js';
import { Cluster, type ServerNode } from './helpers/cluster.js';
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
  const line = await member.proc!.waitForLine((l) => l.msg === 'client refused' && l.closeCode === CloseCodes.BAD_IDENTITY, 'the member logs the refusal', 15_000, from);
  assert.match(String(line.reason), new RegExp(identity.id));
});

test('the primary refuses at once, without a redirect, an id not derived from the key and a wrong key', async () => {
  const mine = newIdentity();
  const other = newIdentity();
  // Another client's id with my key pair (and a key proof made for that id).
  const claimed = await hello(cluster.primary.address, (nonce) => ({ ...helloFor(cluster.key, nonce, { identity: mine }), id: other.id, proof: keyProof(cluster.key, 'client', nonce, other.id) }));
  assert.equal((await claimed.closeResult()).code, CloseCodes.BAD_IDENTITY);
  assert.ok(!claimed.messages.some((m) => m.type === 'redirect'), 'no redirect for a claimed id');
  const wrongKey = await hello(cluster.primary.address, (nonce) => helloFor('not-the-key-at-all', nonce, { identity: mine }));
  assert.equal((await wrongKey.closeResult()).code, CloseCodes.BAD_KEY);
  assert.ok(!wrongKey.messages.some((m) => m.type === 'redirect'), 'no redirect without the key');
});
