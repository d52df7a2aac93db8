/**
 * The console's reconnect decisions (src/console/reconnectPlan.ts) and the handover tickets that
 * carry a login to another server (src/server/api/handoverTicket.ts), with plain inputs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MOVE_AFTER_FAILURES,
  nextStep,
  retryDelay,
  STAND_IN_WAIT_MS,
  streamRetryDelay,
} from '../src/console/reconnectPlan.js';
import { HANDOVER_TTL_MS, openTicket, RedeemedTickets, sealTicket } from '../src/server/api/handoverTicket.js';
import { sessionSigningKey } from '../src/server/api/sessionToken.js';

const P = '10.0.0.1:8443';
const S = '10.0.0.2:8443';
const consoles = [P, S];

test('a page retries its own server with backoff, then moves to the next console', () => {
  assert.deepEqual(nextStep({ probe: { kind: 'ok' }, failures: 5, here: P, consoles }), { kind: 'resume' });
  assert.deepEqual(nextStep({ probe: { kind: 'logged-out' }, failures: 0, here: P, consoles }), { kind: 'login' });
  for (let failures = 0; failures < MOVE_AFTER_FAILURES - 1; failures++)
    assert.deepEqual(nextStep({ probe: { kind: 'down' }, failures, here: P, consoles }), {
      kind: 'wait',
      ms: retryDelay(failures),
      why: 'down',
    });
  const last = MOVE_AFTER_FAILURES - 1;
  assert.deepEqual(nextStep({ probe: { kind: 'down' }, failures: last, here: P, consoles }), { kind: 'move', to: S });
  assert.deepEqual(nextStep({ probe: { kind: 'down' }, failures: last, here: S, consoles }), { kind: 'move', to: P });
  // Reached through one name (a VIP, a proxy): the first console; with none known, it only retries.
  assert.deepEqual(nextStep({ probe: { kind: 'down' }, failures: last, here: 'sb.example', consoles }), {
    kind: 'move',
    to: P,
  });
  assert.equal(nextStep({ probe: { kind: 'down' }, failures: 9, here: P, consoles: [P] }).kind, 'wait');
  assert.deepEqual([0, 1, 2, 3, 4, 9].map(retryDelay), [1000, 2000, 4000, 8000, 10_000, 10_000]);
});

test('a page follows the primary its server names, unless it just fled that one', () => {
  const elsewhere = { kind: 'elsewhere', primary: P } as const;
  assert.deepEqual(nextStep({ probe: elsewhere, failures: 0, here: S, consoles }), { kind: 'move', to: P });
  const fled = (agoMs: number) =>
    nextStep({ probe: elsewhere, failures: 2, here: S, consoles, left: { address: P, agoMs } });
  assert.deepEqual(fled(1000), { kind: 'wait', ms: retryDelay(2), why: 'standing-in' });
  assert.deepEqual(fled(STAND_IN_WAIT_MS), { kind: 'move', to: P }, 'a primary that only restarted');
  assert.equal(nextStep({ probe: { kind: 'elsewhere', primary: S }, failures: 0, here: S, consoles }).kind, 'wait');
});

test('a handover ticket carries the token sealed, until it expires, and is taken once', () => {
  const key = sessionSigningKey('0123456789abcdef-secret');
  const { ticket, expiresAt } = sealTicket(key, 'the-session-token', 1_000_000);
  assert.equal(expiresAt, 1_000_000 + HANDOVER_TTL_MS);
  assert.ok(/^[A-Za-z0-9_-]+$/.test(ticket) && !ticket.includes('the-session-token'));
  assert.notEqual(sealTicket(key, 'the-session-token', 1_000_000).ticket, ticket, 'each ticket its own');
  assert.equal(openTicket(key, ticket, expiresAt - 1), 'the-session-token');
  assert.equal(openTicket(key, ticket, expiresAt), undefined, 'expired');
  assert.equal(openTicket(sessionSigningKey('another-cluster-secret!'), ticket, 1_000_000), undefined);
  const raw = Buffer.from(ticket, 'base64url');
  raw[raw.length - 1]! ^= 1;
  assert.equal(openTicket(key, raw.toString('base64url'), 1_000_000), undefined, 'altered');
  assert.equal(openTicket(key, 'short', 1_000_000), undefined);

  const taken = new RedeemedTickets(2);
  assert.equal(taken.take(ticket, 0), true);
  assert.equal(taken.take(ticket, 1), false, 'once');
  assert.equal(taken.take(ticket, HANDOVER_TTL_MS), true, 'forgotten once it has expired anyway');
  taken.take('b', HANDOVER_TTL_MS);
  taken.take('c', HANDOVER_TTL_MS);
  assert.equal(taken.take('c', HANDOVER_TTL_MS), false, 'bounded, newest kept');
});

test('a live stream that keeps failing at once is retried after 0, then 1, 2, 4, 8 and 10 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20].map(streamRetryDelay), [0, 0, 1000, 2000, 4000, 8000, 10_000, 10_000]);
});
