// Unit tests of the admission token bucket.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../src/server/tokenBucket.js';

// ---- TokenBucket (admission) -----------------------------------------------------------------------

test('TokenBucket: a burst is admitted, then the rate; each refusal gets its own slot, spread at the rate', () => {
  const bucket = new TokenBucket(100, 200, 0, 60_000);
  for (let i = 0; i < 200; i++) assert.equal(bucket.take(0), 0, 'the burst is admitted');
  // 1,000 callers at once beyond the burst: each told a later time, 10 ms apart (100 per second).
  const hints = Array.from({ length: 1000 }, () => bucket.take(0));
  assert.ok(hints.every((h) => h > 0));
  assert.deepEqual(hints.slice(0, 3), [10, 20, 30]);
  assert.equal(hints.at(-1), 10_000);
  // Callers that come back at their slot find a token.
  assert.equal(bucket.take(10), 0);
  assert.equal(bucket.take(20), 0);
  assert.equal(bucket.take(20), 10_010 - 20, 'one early caller goes behind the queue');
  // A backlog longer than the longest hint shares the last slot.
  const capped = new TokenBucket(1, 1, 0, 5000);
  capped.take(0);
  assert.deepEqual(
    Array.from({ length: 8 }, () => capped.take(0)),
    [1000, 2000, 3000, 4000, 5000, 5000, 5000, 5000],
  );
});
