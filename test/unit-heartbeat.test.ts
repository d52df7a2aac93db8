// Unit tests of the one heartbeat policy (src/net/heartbeat.ts) and its two runners: the server's
// round over all its clients (src/server/clientHeartbeat.ts) and one connection's watch
// (src/net/peerWatch.ts). No sockets; clocks are passed in, but for the last test, which runs the
// server's round on its timer to see it go a slice at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heartbeatVerdict, timerStalled, type HeartbeatPolicy } from '../src/net/heartbeat.js';
import { PeerHeartbeat } from '../src/net/peerWatch.js';
import { decode, ServerToClient } from '../src/protocol/messages.js';
import { pino } from 'pino';
import {
  ClientHeartbeat,
  HEARTBEAT_SLICE,
  heartbeatRound,
  type HeartbeatClient,
} from '../src/server/clientHeartbeat.js';
import type { Logger } from '../src/server/logger.js';

const SERVER: HeartbeatPolicy = { intervalMs: 30_000, missed: 1 };
const LINK: HeartbeatPolicy = { intervalMs: 1000, missed: 4 };
const AGENT: HeartbeatPolicy = { intervalMs: 30_000, missed: 2.5 };

test('the server figures: a client that did not answer the previous ping is dead, one that did is pinged', () => {
  const lastTick = 1_000_000;
  const now = lastTick + 30_000;
  assert.equal(
    heartbeatVerdict(SERVER, { lastSeen: lastTick + 5, lastTick, now }),
    'ping',
    'its pong came after the ping',
  );
  assert.equal(heartbeatVerdict(SERVER, { lastSeen: lastTick, lastTick, now }), 'ping', 'in the same millisecond');
  assert.equal(heartbeatVerdict(SERVER, { lastSeen: lastTick - 1, lastTick, now }), 'dead', 'nothing since the ping');
  // A client that came after the previous tick has not been pinged yet: it is pinged, not judged.
  assert.equal(heartbeatVerdict(SERVER, { lastSeen: now - 10, lastTick, now }), 'ping');
});

test('silence is counted to the tick’s due time: a tick a little late does not kill a peer that answered', () => {
  const lastTick = 1_000_000;
  const late = lastTick + 30_000 + 20_000; // late, but by less than an interval
  assert.equal(heartbeatVerdict(SERVER, { lastSeen: lastTick + 1, lastTick, now: late }), 'ping');
  assert.equal(heartbeatVerdict(SERVER, { lastSeen: lastTick - 1, lastTick, now: late }), 'dead');
});

test('a stalled timer (more than two intervals since the last tick) forgives, however long the silence', () => {
  const lastTick = 1_000_000;
  for (const policy of [SERVER, LINK, AGENT]) {
    const now = lastTick + 2 * policy.intervalMs + 1;
    assert.ok(timerStalled(policy, lastTick, now));
    assert.ok(!timerStalled(policy, lastTick, lastTick + 2 * policy.intervalMs));
    assert.equal(heartbeatVerdict(policy, { lastSeen: 0, lastTick, now }), 'forgive');
  }
});

test('the cluster link figures (1 s × 4) and the agent’s (2.5 heartbeats)', () => {
  const lastTick = 1_000_000;
  const now = lastTick + 1000;
  // Silent for four intervals up to the due time: still alive; a millisecond more: dead.
  assert.equal(heartbeatVerdict(LINK, { lastSeen: now - 4000, lastTick, now }), 'ping');
  assert.equal(heartbeatVerdict(LINK, { lastSeen: now - 4001, lastTick, now }), 'dead');
  const agentNow = lastTick + 30_000;
  assert.equal(heartbeatVerdict(AGENT, { lastSeen: agentNow - 75_000, lastTick, now: agentNow }), 'ping');
  assert.equal(heartbeatVerdict(AGENT, { lastSeen: agentNow - 75_001, lastTick, now: agentNow }), 'dead');
});

test('the heartbeat a server tells its clients is bounded as the setting is: a client arms a timer with it', () => {
  const told = (heartbeat: number) => decode(ServerToClient, JSON.stringify({ type: 'heartbeat', heartbeat })).ok;
  for (const ok of [0.2, 30, 3600]) assert.ok(told(ok), String(ok));
  for (const bad of [0, 0.1, 3601, 1e12]) assert.ok(!told(bad), String(bad));
});

function fleet(n: number, lastSeen: number): (HeartbeatClient & { pings: number; terminated: boolean })[] {
  return Array.from({ length: n }, (_, i) => {
    const client = {
      id: `c${i}`,
      lastSeen,
      pings: 0,
      terminated: false,
      ws: {
        ping: () => void client.pings++,
        terminate: () => void (client.terminated = true),
      },
    };
    return client;
  });
}

test('a server round: the silent are terminated and counted, the rest pinged; a blip at 500 machines names 20', () => {
  const lastTick = 1_000_000;
  const now = lastTick + 30_000;
  const silent = fleet(500, lastTick - 10);
  const answering = fleet(3, lastTick + 10);
  const round = heartbeatRound([...silent, ...answering], SERVER, lastTick, now);
  assert.equal(round.missed, 500);
  assert.equal(round.named.length, 20, 'one log line names a few; the count says the rest');
  assert.equal(round.stalled, false);
  assert.ok(silent.every((c) => c.terminated && c.pings === 0));
  assert.ok(answering.every((c) => !c.terminated && c.pings === 1));
});

test('a server round after a stall terminates nobody, pings everyone, and counts them as seen now', () => {
  const lastTick = 1_000_000;
  const now = lastTick + 5 * 30_000;
  const clients = fleet(50, lastTick - 10);
  const round = heartbeatRound(clients, SERVER, lastTick, now);
  assert.deepEqual(round, { missed: 0, named: [], stalled: true });
  assert.ok(clients.every((c) => !c.terminated && c.pings === 1 && c.lastSeen === now));
  // Counted as seen at the stalled round's ping, they must answer it: the next round pings them
  // again (the ping's answer may still be on its way), the one after finds them silent.
  assert.equal(heartbeatRound(clients, SERVER, now, now + 30_000).missed, 0);
  assert.equal(heartbeatRound(clients, SERVER, now + 30_000, now + 60_000).missed, 50);
});

test('a connection’s heartbeat: pings while the peer answers, declares it dead after its allowance', () => {
  let now = 0;
  let pings = 0;
  let deaths = 0;
  const beat = new PeerHeartbeat(LINK, { ping: () => void pings++, dead: () => void deaths++ }, () => now);
  const tick = () => {
    now += 1000;
    return beat.tick();
  };
  for (let i = 0; i < 10; i++) {
    assert.equal(tick(), true);
    beat.seen();
  }
  assert.equal(pings, 10);
  // Silent: alive for four intervals, dead at the fifth tick, and the timer told to stop.
  for (let i = 0; i < 4; i++) assert.equal(tick(), true);
  assert.equal(deaths, 0);
  assert.equal(tick(), false);
  assert.equal(deaths, 1);
  assert.equal(pings, 14);
});

test('a connection’s heartbeat: a stalled event loop is forgiven and the peer gets its whole allowance again', () => {
  let now = 0;
  let deaths = 0;
  const beat = new PeerHeartbeat(LINK, { dead: () => void deaths++ }, () => now);
  // The timer's callback runs 10 s after its last run (the loop was blocked); nothing seen since 0.
  now = 10_000;
  assert.equal(beat.tick(), true);
  for (let i = 0; i < 4; i++) {
    now += 1000;
    assert.equal(beat.tick(), true, 'counted as seen at the stalled tick');
  }
  now += 1000;
  assert.equal(beat.tick(), false);
  assert.equal(deaths, 1);
});

test('a timer’s first round (the server started, or the setting changed) pings everyone and judges nobody', async () => {
  // Seen a while ago, at the pings of a longer interval: not asked to answer anything since.
  const clients = fleet(3, Date.now() - 10_000);
  const first = Date.now();
  assert.deepEqual(heartbeatRound(clients, SERVER, undefined, first), { missed: 0, named: [], stalled: false });
  assert.ok(clients.every((c) => c.pings === 1 && !c.terminated));
  // Whoever does not answer that ping is found at the next round, not one later.
  assert.equal(heartbeatRound(clients, SERVER, first, first + SERVER.intervalMs).missed, 3);

  const rescheduled = fleet(3, Date.now() - 10_000);
  const heartbeat = new ClientHeartbeat(new Map(rescheduled.map((c) => [c.id, c])), silentLogger(), () => undefined);
  heartbeat.schedule(0.05);
  try {
    await waitUntil(() => rescheduled.every((c) => c.pings >= 1 || c.terminated));
  } finally {
    heartbeat.stop();
  }
  assert.deepEqual(
    rescheduled.filter((c) => c.terminated).map((c) => c.id),
    [],
  );
});

test('the server’s round goes a slice at a time: the event loop serves others between slices, and a client gone meanwhile is skipped', async () => {
  const count = HEARTBEAT_SLICE * 2 + 200;
  const clients = fleet(count, Date.now() + 60_000);
  const connected = new Map(clients.map((c) => [c.id, c]));
  // Counts the turns of the event loop while the round runs: pings made in one turn share its number.
  let turn = 0;
  let turning = true;
  const spin = () => {
    turn++;
    if (turning) setImmediate(spin);
  };
  const pingTurns = new Set<number>();
  const gone = clients[count - 1]!;
  for (const c of clients) {
    const ping = c.ws.ping;
    c.ws.ping = () => {
      pingTurns.add(turn);
      // The first slice's last ping: the last client leaves before its slice comes.
      if (c === clients[HEARTBEAT_SLICE - 1]) connected.delete(gone.id);
      ping();
    };
  }
  const heartbeat = new ClientHeartbeat(connected, silentLogger(), () => undefined);
  heartbeat.schedule(0.05);
  setImmediate(spin);
  try {
    await waitUntil(() => clients[count - 2]!.pings >= 1);
  } finally {
    heartbeat.stop();
    turning = false;
  }
  assert.ok(pingTurns.size >= 3, `a round of ${count} in ${pingTurns.size} turns of the event loop`);
  assert.equal(gone.pings, 0, 'a client that left during the round is not pinged');
  assert.ok(clients.slice(0, count - 1).every((c) => c.pings >= 1 && !c.terminated));
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'the round did not reach the last clients within 5 s');
}

function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
