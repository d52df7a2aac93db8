/**
 * Resume tickets (src/protocol/resumeTicket.ts) between real server processes: a client welcomed by
 * one member comes back to the other with a ticket's HMAC instead of an Ed25519 signature; a key
 * holder cannot resume as another client; a refused ticket costs the client one more hello, signed.
 * Servers on 127.0.48.x, one cluster secret; the primary's weight is 0, so every client is placed on
 * a member.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ClientAgent, type ClientStatus } from '../src/client/agent.js';
import { newIdentity, type ClientIdentity } from '../src/client/identity.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { keyProof } from '../src/protocol/proof.js';
import {
  newExchangeKey,
  openTicket,
  RESUME_TICKET_TTL_MS,
  resumeProof,
  type IssuedTicket,
} from '../src/protocol/resumeTicket.js';
import { request } from './helpers/api.js';
import { Cluster, type ServerNode } from './helpers/cluster.js';
import { waitFor } from './helpers/harness.js';
import { helloFor, RawPeer } from './helpers/sb.js';

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ subnet: 48, members: [{}, {}], primaryWeight: 0 });
});

after(() => cluster?.close());

/** A real identity whose signatures are counted: a resumed hello signs nothing. */
function countingIdentity(): ClientIdentity & { signatures: number } {
  const identity = newIdentity();
  const counted = {
    ...identity,
    signatures: 0,
    sign: (nonce: string, ticketKey?: string) => {
      counted.signatures++;
      return identity.sign(nonce, ticketKey);
    },
  };
  return counted;
}

function agentFor(identity: ClientIdentity): ClientAgent & { statuses: { status: ClientStatus; reason?: string }[] } {
  const agent = new ClientAgent({
    gateway: cluster.primary.address,
    key: cluster.key,
    identity,
    name: `resume-${identity.id.slice(0, 6)}`,
    policy: { allowForward: new Set(), allowExec: false },
    dial: { tls: false },
  });
  const statuses: { status: ClientStatus; reason?: string }[] = [];
  agent.on('status', (status, detail) => statuses.push({ status, reason: detail.reason }));
  return Object.assign(agent, { statuses });
}

function nodeAt(address: string | undefined): ServerNode {
  const node = cluster.members.find((m) => m.address === address);
  assert.ok(node?.proc, `a running member at ${address}`);
  return node;
}

/** The "client up" line a server logged for this client from line `from` on. */
function clientUp(node: ServerNode, id: string, from: number): Promise<Record<string, unknown>> {
  return node.proc!.waitForLine(
    (l) => l.msg === 'client up' && l.client === id,
    `${id} up on ${node.name}`,
    60_000,
    from,
  );
}

/** Starts the agent (again) and waits for its welcome. */
async function startConnected(agent: ClientAgent): Promise<void> {
  agent.start();
  await waitFor(() => agent.status === 'connected', 'the agent connected', 60_000);
}

/** Stops the agent and waits until its server has let it go, so that its next hello is no duplicate. */
async function disconnect(agent: ClientAgent, id: string): Promise<void> {
  const node = nodeAt(agent.server);
  const from = node.proc!.lines.length;
  agent.stop();
  await node.proc!.waitForLine((l) => l.msg === 'client down' && l.client === id, `${id} down`, 30_000, from);
}

async function refusalsOf(node: ServerNode, reason: string): Promise<number> {
  const metrics = await request(node.address, 'GET', '/metrics');
  const line = new RegExp(`^switchboard_refusals_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(metrics.text);
  return Number(line?.[1] ?? 0);
}

test('a client welcomed by one member comes back to the other with its ticket, signing nothing', async () => {
  const identity = countingIdentity();
  const agent = agentFor(identity);
  try {
    await startConnected(agent);
    const first = nodeAt(agent.server);
    assert.equal((await clientUp(first, identity.id, 0)).resumed, false, 'the first hello is signed');
    const signed = identity.signatures;
    const other = cluster.members.find((m) => m !== first)!;
    const from = other.proc!.lines.length;
    await cluster.stopNode(first);
    await waitFor(() => agent.status === 'connected' && agent.server === other.address, 'back on the other', 60_000);
    assert.equal((await clientUp(other, identity.id, from)).resumed, true, 'the other member took the ticket');
    assert.equal(identity.signatures, signed, 'no signature for the return');
    await cluster.startMember(cluster.members.indexOf(first));
  } finally {
    agent.stop();
  }
});

/** A signed hello asking for a ticket, straight to `node`: the welcome's ticket, opened. */
async function ticketOf(node: ServerNode, identity: ClientIdentity): Promise<ReturnType<typeof openTicket>> {
  const exchange = newExchangeKey();
  const peer = RawPeer.open(node.address, '/v1/client');
  const nonce = (await peer.next('challenge')).nonce as string;
  peer.send({
    ...helloFor(cluster.key, nonce, { identity }),
    signature: identity.sign(nonce, exchange.publicKey),
    ticketKey: exchange.publicKey,
  });
  const welcome = await peer.next('welcome');
  peer.terminate();
  return openTicket(welcome.resume as IssuedTicket, exchange.privateKey, identity.id, Date.now());
}

test('a key holder cannot resume as another client, with its own ticket or any: refused 4033, the victim untouched', async () => {
  const victim = newIdentity();
  const agent = agentFor(victim);
  try {
    await startConnected(agent);
    const node = nodeAt(agent.server);
    const from = node.proc!.lines.length;
    const refusedBefore = await refusalsOf(node, 'resume_refused');
    // The forger holds the key and a ticket of its own, and claims the victim's id and public key.
    const forger = newIdentity();
    const own = await ticketOf(node, forger);
    const forgeries: Record<string, (nonce: string) => { at: number; proof: string }> = {
      "its own ticket's secret": (nonce) => resumeProof(own, nonce, victim.id),
      'a made-up proof': () => ({ at: Date.now(), proof: keyProof('guess', 'client-resume', 'n', victim.id) }),
    };
    for (const [what, forge] of Object.entries(forgeries)) {
      const peer = RawPeer.open(node.address, '/v1/client');
      const nonce = (await peer.next('challenge')).nonce as string;
      const { signature: _, ...unsigned } = helloFor(cluster.key, nonce, { identity: victim });
      peer.send({ ...unsigned, resume: forge(nonce) });
      const closed = await peer.closeResult();
      assert.equal(closed.code, CloseCodes.RESUME_REFUSED, what);
      assert.match(closed.reason, /resume ticket of .* not accepted: ticket proof does not match/, what);
      assert.ok(!peer.messages.some((m) => m.type === 'welcome'), what);
    }
    await node.proc!.waitForLine(
      (l) => l.msg === 'client refused' && l.closeCode === CloseCodes.RESUME_REFUSED && l.client === victim.id,
      'the member logs the refusal with the claimed id',
      15_000,
      from,
    );
    assert.equal(await refusalsOf(node, 'resume_refused'), refusedBefore + 2);
    assert.equal(agent.status, 'connected');
    assert.equal(agent.server, node.address);
    assert.ok(
      !node.proc!.lines.slice(from).some((l) => l.msg === 'client down' && l.client === victim.id),
      'the victim stays connected',
    );
  } finally {
    agent.stop();
  }
});

test('an agent whose ticket is refused signs its next hello at once and is welcomed, with a new ticket', async () => {
  const identity = countingIdentity();
  const agent = agentFor(identity);
  try {
    await startConnected(agent);
    await disconnect(agent, identity.id);
    // Its ticket ages past the TTL while it is away (the agent's memory, as a day's absence leaves it).
    (agent as unknown as { ticket: { at: number } }).ticket.at -= RESUME_TICKET_TTL_MS + 60_000;
    const lines = new Map(cluster.members.map((m) => [m, m.proc!.lines.length]));
    const signed = identity.signatures;
    agent.statuses.length = 0;
    await startConnected(agent);
    const node = nodeAt(agent.server);
    const refused = await node.proc!.waitForLine(
      (l) => l.msg === 'client refused' && l.closeCode === CloseCodes.RESUME_REFUSED && l.client === identity.id,
      'the expired ticket refused',
      15_000,
      lines.get(node),
    );
    assert.match(String(refused.reason), /ticket expired/);
    assert.equal((await clientUp(node, identity.id, lines.get(node)!)).resumed, false);
    assert.equal(identity.signatures, signed + 1, 'one signed hello after the refusal');
    // Treated as any other refusal, it would wait out a backoff with this reason first.
    const waits = agent.statuses.filter((s) => s.status === 'waiting').map((s) => s.reason);
    assert.ok(!waits.some((reason) => /resume/.test(String(reason))), `no backoff wait: ${waits.join(', ')}`);
    // The welcome of that signed hello brought a fresh ticket: the next return uses it.
    await disconnect(agent, identity.id);
    const again = new Map(cluster.members.map((m) => [m, m.proc!.lines.length]));
    await startConnected(agent);
    const back = nodeAt(agent.server);
    assert.equal((await clientUp(back, identity.id, again.get(back)!)).resumed, true);
    assert.equal(identity.signatures, signed + 1);
  } finally {
    agent.stop();
  }
});
