// Unit tests of client resume tickets (src/protocol/resumeTicket.ts) and their wire shapes.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newIdentity } from '../src/client/identity.js';
import { verifyIdentity } from '../src/protocol/clientIdentity.js';
import { ClientToServer, decode, ServerToClient } from '../src/protocol/messages.js';
import { newNonce } from '../src/protocol/proof.js';
import {
  issueTicket,
  newExchangeKey,
  openTicket,
  RESUME_MAX_SKEW_MS,
  RESUME_TICKET_TTL_MS,
  resumeKeys,
  resumeProof,
  resumeRefusal,
  ticketUsable,
} from '../src/protocol/resumeTicket.js';

const SECRET = 'cluster-secret-0123456789abcdef0123456789';
const T0 = Date.UTC(2026, 0, 1);

/** A client welcomed at `at` by a server of the cluster `secret`: its exchange key and opened ticket. */
function welcomed(secret = SECRET, at = T0) {
  const client = newIdentity();
  const exchange = newExchangeKey();
  const server = resumeKeys(secret);
  const issued = issueTicket(server, client.id, client.publicKey, exchange.publicKey, at);
  const ticket = openTicket(issued, exchange.privateKey, client.id, at);
  return { client, exchange, server, issued, ticket };
}

test('resume tickets: issued by one server, proven at another server of the same cluster', () => {
  const { client, ticket, server } = welcomed();
  const another = resumeKeys(SECRET);
  assert.equal(another.id, server.id, 'every server of a cluster names the same resume key');
  assert.notEqual(another.exchangePublic, server.exchangePublic, 'each process seals with an X25519 key of its own');
  const nonce = newNonce();
  const proof = resumeProof(ticket, nonce, client.id);
  assert.equal(resumeRefusal(another, client.id, client.publicKey, proof, nonce, T0 + 60_000), undefined);
  assert.ok(!JSON.stringify(proof).includes(ticket.secret), 'the secret is proven, never sent');
});

test('resume tickets: a proof for another id, nonce or key, or of another cluster, is refused', () => {
  const { client, ticket, server } = welcomed();
  const other = newIdentity();
  const nonce = newNonce();
  const proof = resumeProof(ticket, nonce, client.id);
  const now = T0 + 1000;
  assert.match(String(resumeRefusal(server, client.id, client.publicKey, proof, newNonce(), now)), /does not match/);
  assert.match(String(resumeRefusal(server, other.id, other.publicKey, proof, nonce, now)), /does not match/);
  assert.match(
    String(resumeRefusal(server, other.id, other.publicKey, resumeProof(ticket, nonce, other.id), nonce, now)),
    /does not match/,
    "a ticket's proof made for another client's id",
  );
  assert.match(String(resumeRefusal(server, client.id, other.publicKey, proof, nonce, now)), /does not match/);
  assert.match(
    String(resumeRefusal(server, client.id, client.publicKey, { ...proof, at: proof.at + 1 }, nonce, now)),
    /does not match/,
    'another issue time',
  );
  const foreign = resumeKeys('another-cluster-secret-0123456789abcdef');
  assert.notEqual(foreign.id, server.id);
  assert.match(String(resumeRefusal(foreign, client.id, client.publicKey, proof, nonce, now)), /does not match/);
  const standalone = resumeKeys(undefined);
  assert.notEqual(standalone.id, resumeKeys(undefined).id, 'a standalone server: a random key per process');
  assert.match(String(resumeRefusal(standalone, client.id, client.publicKey, proof, nonce, now)), /does not match/);
});

test('resume tickets: an expired ticket, or one from the future beyond the clock skew, is refused', () => {
  const { client, ticket, server } = welcomed();
  const nonce = newNonce();
  const proof = resumeProof(ticket, nonce, client.id);
  const check = (now: number) => resumeRefusal(server, client.id, client.publicKey, proof, nonce, now);
  assert.equal(check(T0 + RESUME_TICKET_TTL_MS), undefined);
  assert.match(String(check(T0 + RESUME_TICKET_TTL_MS + 1)), /expired/);
  assert.equal(check(T0 - RESUME_MAX_SKEW_MS), undefined, "the issuing server's clock a little ahead");
  assert.match(String(check(T0 - RESUME_MAX_SKEW_MS - 1)), /future/);
});

test('resume tickets: only the exchange key the hello named opens one, for this id only', () => {
  const { client, exchange, issued } = welcomed();
  assert.throws(() => openTicket(issued, newExchangeKey().privateKey, client.id, T0), 'another exchange key');
  assert.throws(() => openTicket(issued, exchange.privateKey, newIdentity().id, T0), 'another id');
  assert.throws(() =>
    openTicket({ ...issued, server: newExchangeKey().publicKey }, exchange.privateKey, client.id, T0),
  );
  assert.throws(() => openTicket({ ...issued, server: 'not-a-key' }, exchange.privateKey, client.id, T0));
  assert.ok(!JSON.stringify(issued).includes(openTicket(issued, exchange.privateKey, client.id, T0).secret));
});

test('resume tickets: the client offers one only to a server of its key id, and stops before servers would refuse', () => {
  const { server, ticket } = welcomed();
  assert.equal(ticketUsable(ticket, server.id, T0), true);
  assert.equal(ticketUsable(ticket, undefined, T0), false, 'a server without resume tickets');
  assert.equal(ticketUsable(ticket, resumeKeys(undefined).id, T0), false, "another cluster's");
  assert.equal(ticketUsable(undefined, server.id, T0), false);
  assert.equal(ticketUsable(ticket, server.id, T0 + RESUME_TICKET_TTL_MS - RESUME_MAX_SKEW_MS), false);
});

test('a signed hello binds the ticket key it names: another key in its place fails the signature', () => {
  const me = newIdentity();
  const nonce = newNonce();
  const mine = newExchangeKey().publicKey;
  const signature = me.sign(nonce, mine);
  assert.equal(verifyIdentity(me.id, me.publicKey, signature, nonce, mine), true);
  assert.equal(verifyIdentity(me.id, me.publicKey, signature, nonce, newExchangeKey().publicKey), false, 'swapped');
  assert.equal(verifyIdentity(me.id, me.publicKey, signature, nonce), false, 'dropped');
  assert.equal(verifyIdentity(me.id, me.publicKey, me.sign(nonce), nonce, mine), false, 'added');
});

test('wire: a hello needs a signature unless it resumes; the old shapes still decode', () => {
  const me = newIdentity();
  const hello = {
    type: 'hello',
    version: 1,
    id: me.id,
    name: 'n',
    group: '',
    platform: 'p',
    proof: 'x',
    publicKey: me.publicKey,
    allowForward: [],
    allowExec: false,
  };
  const parse = (h: object) => decode(ClientToServer, JSON.stringify(h));
  assert.deepEqual(parse({ ...hello, signature: 's' }), { ok: true, value: { ...hello, signature: 's' } });
  assert.deepEqual(parse(hello), { ok: false, error: 'signature: a signature is required without resume' });
  assert.ok(parse({ ...hello, resume: { at: T0, proof: 'p' } }).ok);
  assert.ok(!parse({ ...hello, signature: 's', ticketKey: 'short' }).ok, 'a ticket key is 32 raw bytes');
  assert.ok(parse({ ...hello, signature: 's', ticketKey: newExchangeKey().publicKey }).ok);
  // A client before resume tickets decodes a new server's challenge and welcome: zod objects strip
  // the fields they do not know, as that client's schema (these shapes without them) does.
  const { issued } = welcomed();
  const welcome = {
    type: 'welcome',
    server: '127.0.0.1:1',
    heartbeat: 30,
    cluster: {},
    resume: issued,
    fromTheFuture: 1,
  };
  const decoded = decode(ServerToClient, JSON.stringify(welcome));
  assert.ok(decoded.ok && decoded.value.type === 'welcome' && decoded.value.resume?.sealed === issued.sealed);
  assert.ok(!('fromTheFuture' in (decoded.ok ? decoded.value : {})), 'an unknown field is dropped, not refused');
  const challenge = decode(ServerToClient, JSON.stringify({ type: 'challenge', nonce: 'n', server: 'a:1', epoch: 0 }));
  assert.ok(challenge.ok && challenge.value.type === 'challenge' && challenge.value.resume === undefined);
});
