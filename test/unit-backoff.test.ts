// Unit tests of the reconnect backoff: jittered, doubling, capped.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Backoff } from '../src/net/backoff.js';

// ---- Backoff -----------------------------------------------------------------------------------------

test('Backoff: jittered delays between half and all of a step that doubles up to the maximum', () => {
  const low = new Backoff(500, 30_000, () => 0);
  assert.deepEqual(
    Array.from({ length: 9 }, () => low.next()),
    [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000],
  );
  const high = new Backoff(500, 30_000, () => 0.999999);
  assert.deepEqual(
    Array.from({ length: 8 }, () => high.next()),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
  high.reset();
  assert.equal(high.attempts, 0);
  assert.equal(high.next(), 500, 'reset starts over');
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 60 }),
      (base, max, randoms) => {
        let i = 0;
        const b = new Backoff(base, max, () => randoms[i++ % randoms.length]!);
        for (let n = 0; n < randoms.length; n++) {
          const step = Math.min(max, base * 2 ** Math.min(n, 30));
          const d = b.next();
          assert.ok(d >= Math.floor(step / 2) && d <= step, `${d} within [${step / 2}, ${step}]`);
        }
      },
    ),
  );
});

test('Backoff.again: the step next() last gave, not grown; before any next(), the first step', () => {
  const b = new Backoff(500, 30_000, () => 0.999999);
  assert.equal(b.again(), 500);
  assert.deepEqual([b.next(), b.again(), b.again(), b.next(), b.again()], [500, 500, 500, 1000, 1000]);
  assert.equal(b.attempts, 2, 'again() does not count an attempt');
});
