/**
 * Admission (src/server/admission.ts): clients that prove a key and upgrades that prove nothing in
 * budgets apart, the unproven one shared fairly per source address, pure with the clock passed in;
 * and the client (src/client/agent.ts) proving its key on every attempt, which is what lets a
 * server tell it from a stranger before any WebSocket.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { ClientAgent } from '../src/client/agent.js';
import { Backoff } from '../src/net/backoff.js';
import { newIdentity } from '../src/client/identity.js';
import { provenPlacementId } from '../src/protocol/placementRequest.js';
import { Admission, ADDRESS_SHARE, MAX_ADDRESSES, sourceKey, UNPROVEN_SHARE } from '../src/server/admission.js';
import { TokenBucket } from '../src/server/tokenBucket.js';

const RATE = 2000;
const UNPROVEN = RATE * UNPROVEN_SHARE;
const PER_ADDRESS = UNPROVEN * ADDRESS_SHARE;

test('an unproven flood from one address takes no token and no retry slot from clients that prove a key', () => {
  const admission = new Admission(RATE, 0);
  const flood = Array.from({ length: 100_000 }, () => admission.take(false, '203.0.113.9', 0));
  assert.equal(
    flood.filter((r) => r === undefined).length,
    PER_ADDRESS * 2,
    'the flooder gets its own share (its burst) and no more',
  );
  assert.ok(
    flood.slice(PER_ADDRESS * 2).every((r) => r?.reason === 'busy_address'),
    'the rest is refused for its address',
  );
  assert.ok(flood.at(-1)!.waitMs >= 59_000, 'its own slots are pushed out, to the longest hint');
  // Clients that prove a key: the whole burst, then slots at the admission rate from now.
  for (let i = 0; i < RATE * 2; i++) assert.equal(admission.take(true, '198.51.100.1', 0), undefined);
  assert.deepEqual(admission.take(true, '198.51.100.1', 0), {
    reason: 'busy',
    waitMs: 1,
    message: 'server busy admitting clients; retry in 1 ms',
  });
  assert.equal(admission.take(true, '198.51.100.2', 0)?.waitMs, 1, 'the next slot, at the rate: nothing the flood did');
});

test('other addresses that prove nothing are still admitted while one floods, each with its own share', () => {
  const admission = new Admission(RATE, 0);
  for (let i = 0; i < 10_000; i++) admission.take(false, '203.0.113.9', i / 10);
  assert.equal(admission.take(false, '203.0.113.10', 1000), undefined);
  assert.equal(admission.take(false, '203.0.113.11', 1000), undefined);
  assert.equal(admission.take(false, '203.0.113.9', 1000)?.reason, 'busy_address');
});

test('all unproven upgrades together are capped, and a refusal for everyone costs an address nothing of its share', () => {
  const admission = new Admission(RATE, 0);
  const addresses = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const answers = addresses.map((a) => admission.take(false, a, 0));
  assert.equal(
    answers.filter((r) => r === undefined).length,
    UNPROVEN * 2,
    'the unproven burst, from all addresses together',
  );
  const refused = answers.filter((r) => r !== undefined);
  assert.ok(refused.every((r) => r.reason === 'busy_unproven'));
  // Each refusal got its own slot in the shared bucket: spread at the unproven rate.
  assert.deepEqual(
    refused.slice(0, 3).map((r) => r.waitMs),
    [10, 20, 30],
  );
  assert.equal(admission.take(true, '10.0.0.1', 0), undefined, 'a client that proves a key is not held back');
  // An address refused for everyone's sake keeps its share. At 5/s: the unproven budget is 1/s
  // (burst 2), an address's share a tenth of that (burst 1).
  const low = new Admission(5, 0);
  assert.equal(low.take(false, '10.0.0.1', 0), undefined);
  assert.equal(low.take(false, '10.0.0.2', 0), undefined);
  assert.deepEqual(low.take(false, '10.0.0.3', 0), {
    reason: 'busy_unproven',
    waitMs: 1000,
    message: 'server busy admitting connections that prove no key; retry in 1000 ms',
  });
  assert.equal(low.take(false, '10.0.0.3', 1000), undefined, 'back at its slot, its share still has the token');
});

test('the addresses remembered are bounded: the least recently seen is forgotten first', () => {
  const admission = new Admission(RATE, 0, 100);
  for (let i = 0; i < 10_000; i++) admission.take(false, `10.1.${i >> 8}.${i & 255}`, i);
  assert.equal(admission.addresses, 100);
  assert.equal(new Admission(RATE, 0).addresses, 0);
  assert.ok(MAX_ADDRESSES >= 1000);
  // A flooder seen again stays remembered (and refused) while strangers pass through.
  const small = new Admission(RATE, 0, 4);
  for (let i = 0; i < 1000; i++) small.take(false, '203.0.113.9', 0);
  for (let i = 0; i < 10; i++) {
    small.take(false, '203.0.113.9', 0);
    small.take(false, `10.2.0.${i}`, 0);
  }
  assert.equal(small.take(false, '203.0.113.9', 0)?.reason, 'busy_address');
});

test('127.0.0.1 and ::1 have no share of their own (local tools share them) but count in the unproven budget', () => {
  const admission = new Admission(RATE, 0);
  const local = Array.from({ length: UNPROVEN * 3 }, (_, i) => admission.take(false, i % 2 ? '127.0.0.1' : '::1', 0));
  assert.equal(local.filter((r) => r === undefined).length, UNPROVEN * 2);
  assert.ok(local.every((r) => r === undefined || r.reason === 'busy_unproven'));
  // Other loopback addresses count as remote hosts (tests play them).
  const other = Array.from({ length: 100 }, () => admission.take(false, '127.0.115.1', 10_000));
  assert.equal(other.filter((r) => r === undefined).length, PER_ADDRESS * 2);
});

test('a new admission rate reaches every budget; a low one still lets one unproven upgrade a second in', () => {
  const admission = new Admission(RATE, 0);
  admission.take(false, '203.0.113.9', 0);
  admission.configure(5);
  // 5/s: clients that prove a key get 10 at once; the unproven budget is its floor, 1/s (burst 2),
  // and one address a tenth of it (burst 1).
  for (let i = 0; i < 10; i++) assert.equal(admission.take(true, '198.51.100.1', 0), undefined);
  assert.equal(admission.take(true, '198.51.100.1', 0)?.waitMs, 200);
  assert.equal(admission.take(false, '203.0.113.20', 0), undefined);
  assert.equal(admission.take(false, '203.0.113.20', 0)?.waitMs, 10_000, 'its next slot: a tenth of 1/s');
  assert.equal(admission.take(false, '203.0.113.21', 0), undefined);
  assert.equal(admission.take(false, '203.0.113.22', 0)?.reason, 'busy_unproven');
});

test('a source is an IPv4 address (mapped ones too) or an IPv6 /64', () => {
  assert.equal(sourceKey('198.51.100.7'), '198.51.100.7');
  assert.equal(sourceKey('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(sourceKey('2001:db8:1:2::5'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:0DB8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(sourceKey('64:ff9b::198.51.100.7'), '64:ff9b:0:0::/64');
  assert.notEqual(sourceKey('2001:db8:1:3::5'), sourceKey('2001:db8:1:2::5'));
  // One host with a /64 is one source: its addresses share one share.
  const admission = new Admission(RATE, 0);
  const answers = Array.from({ length: 100 }, (_, i) =>
    admission.take(false, `2001:db8:1:2::${(i + 1).toString(16)}`, 0),
  );
  assert.equal(answers.filter((r) => r === undefined).length, PER_ADDRESS * 2);
});

test('TokenBucket.refund gives the last token back, never past the burst', () => {
  const bucket = new TokenBucket(1, 2, 0);
  bucket.take(0);
  bucket.take(0);
  bucket.refund();
  assert.equal(bucket.take(0), 0);
  assert.ok(bucket.take(0) > 0);
  const full = new TokenBucket(1, 1, 0);
  full.refund();
  assert.equal(full.take(0), 0);
  assert.ok(full.take(0) > 0);
});

test('a client proves its key in the headers of every attempt: the first, after a 503, after a redirect, after a reconnect', async () => {
  const key = 'admission-test-key-0123456789';
  const identity = newIdentity();
  /** The upgrade headers each attempt carried, in order, with the server it went to. */
  const attempts: { server: string; proven: boolean }[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const servers = await Promise.all(
    ['primary', 'member'].map(async (name) => {
      const server = http.createServer();
      server.on('upgrade', (req, socket, head) => {
        // The client may reset a socket this stand-in answers and ends: not the test's failure.
        socket.on('error', () => undefined);
        attempts.push({
          server: name,
          proven: provenPlacementId(req.headers, [{ value: key }], Date.now()) === identity.id,
        });
        const n = attempts.length;
        const answer = (status: string, body: object, extra = '') => {
          const text = JSON.stringify(body);
          socket.end(
            `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}Connection: close\r\n\r\n${text}`,
          );
        };
        if (n === 1)
          return answer('503 Service Unavailable', {
            error: { code: 'SB_ERR_BUSY', message: 'busy', retryAfterMs: 10 },
          });
        if (n === 2)
          return answer(
            '307 Temporary Redirect',
            { redirect: { to: addresses.member, reason: 'test' } },
            `Location: http://${addresses.member}/v1/client\r\n`,
          );
        if (n === 3) {
          // Welcomed, then dropped: the client reconnects to the primary it was told of.
          return wss.handleUpgrade(req, socket, head, (ws) => {
            ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(32), server: addresses.member, epoch: 0 }));
            ws.once('message', () => {
              ws.send(
                JSON.stringify({
                  type: 'welcome',
                  server: addresses.member,
                  heartbeat: 30,
                  cluster: { primary: addresses.primary },
                }),
              );
              setTimeout(() => ws.terminate(), 50);
            });
          });
        }
        answer('503 Service Unavailable', { error: { code: 'SB_ERR_BUSY', message: 'busy', retryAfterMs: 60_000 } });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
  const addresses = {
    primary: `127.0.0.1:${(servers[0]!.address() as AddressInfo).port}`,
    member: `127.0.0.1:${(servers[1]!.address() as AddressInfo).port}`,
  };
  const agent = new ClientAgent({
    gateway: addresses.primary,
    key,
    identity,
    policy: { allowForward: new Set(), allowExec: false },
    dial: { tls: false },
    backoff: new Backoff(10, 50),
  });
  try {
    agent.start();
    const deadline = Date.now() + 15_000;
    while (attempts.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(attempts.slice(0, 4), [
      { server: 'primary', proven: true },
      { server: 'primary', proven: true },
      { server: 'member', proven: true },
      { server: 'primary', proven: true },
    ]);
  } finally {
    agent.stop();
    wss.close();
    for (const s of servers) s.close();
  }
});
