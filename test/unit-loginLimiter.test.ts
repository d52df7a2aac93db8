// Unit tests of the login limiter: free attempts, doubling locks, forgiveness.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LoginLimiter } from '../src/server/loginLimiter.js';

// ---- LoginLimiter ------------------------------------------------------------------------------------

test('LoginLimiter: free attempts, then a lock that doubles, capped', () => {
  const limiter = new LoginLimiter(3, 60_000);
  const who = ['op:alice', 'ip:10.0.0.1'];
  let now = 1_000_000;
  limiter.fail(who, now);
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 0, 'two failures of three free: not locked');
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 1000, 'the third failure locks for 1 s');
  assert.equal(limiter.lockedFor(who, now + 999), 1);
  assert.equal(limiter.lockedFor(who, now + 1000), 0, 'and then it is over');
  now += 1000;
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 2000, 'each further failure doubles the lock');
  now += 2000;
  limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 4000);
  for (let i = 0; i < 30; i++) limiter.fail(who, now);
  assert.equal(limiter.lockedFor(who, now), 60_000, 'capped at the maximum');
});

test('LoginLimiter: any locked subject locks the attempt; success clears only the account', () => {
  const limiter = new LoginLimiter(1);
  const now = 5000;
  limiter.fail(['op:bob', 'ip:10.0.0.2'], now);
  assert.ok(limiter.lockedFor(['op:bob'], now) > 0);
  assert.ok(limiter.lockedFor(['op:carol', 'ip:10.0.0.2'], now) > 0, 'the address is locked for every account');
  assert.equal(limiter.lockedFor(['op:carol', 'ip:10.0.0.3'], now), 0, 'others are not');
  limiter.succeed('op:bob');
  assert.equal(limiter.lockedFor(['op:bob'], now), 0);
  assert.ok(limiter.lockedFor(['ip:10.0.0.2'], now) > 0);
  limiter.setFreeAttempts(5);
  const fresh = ['op:dave'];
  for (let i = 0; i < 4; i++) limiter.fail(fresh, now);
  assert.equal(limiter.lockedFor(fresh, now), 0, 'the free attempts follow the setting');
});

test('LoginLimiter: failures far apart are forgiven; a run of them locks', () => {
  const limiter = new LoginLimiter(3, 60_000);
  const who = ['ip:10.0.0.7'];
  let now = 0;
  // One typo a day, for a week: never locked.
  for (let day = 0; day < 7; day++) {
    now += 24 * 3600_000;
    limiter.fail(who, now);
    assert.equal(limiter.lockedFor(who, now), 0, `day ${day}`);
  }
  // Three in a row: locked.
  limiter.fail(who, now + 1);
  limiter.fail(who, now + 2);
  assert.ok(limiter.lockedFor(who, now + 2) > 0);
});

test('LoginLimiter: the lock never shrinks as failures grow (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 40 }), (free, failures) => {
      const limiter = new LoginLimiter(free, 15 * 60_000);
      let last = 0;
      for (let i = 1; i <= failures; i++) {
        limiter.fail(['s'], 0);
        const wait = limiter.lockedFor(['s'], 0);
        assert.ok(wait >= last);
        assert.equal(wait > 0, i >= free);
        assert.ok(wait <= 15 * 60_000);
        last = wait;
      }
    }),
  );
});
