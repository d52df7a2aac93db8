/**
 * A forward's control connections (src/control/controlPool.ts), with stand-in controls: one more
 * when the others hold a control's budget, never past the cap, none dialled again after a login
 * refused for good (it would count toward the operator's lockout), none at all after a TOTP login.
 */
import assert from 'node:assert/strict';
import { PassThrough, type Duplex } from 'node:stream';
import { test } from 'node:test';
import { ControlPool, MAX_CONTROLS_PER_FORWARD, SESSIONS_PER_CONTROL } from '../src/control/controlPool.js';
import { CONTROL_SESSION_LIMITS, MAX_SESSIONS_PER_CLIENT } from '../src/server/sessionBudget.js';
import { ErrorCodes, SwitchboardError } from '../src/protocol/errors.js';
import { waitFor } from './helpers/harness.js';

class FakeControl {
  held = 0;
  closed = false;
  /** Refusals the "server" makes before it opens, as if its count were behind ours. */
  refuseNext = 0;

  constructor(readonly perControl = 4) {}

  async open(): Promise<Duplex> {
    if (this.refuseNext > 0 || this.held >= this.perControl) {
      this.refuseNext = Math.max(0, this.refuseNext - 1);
      throw new SwitchboardError(
        ErrorCodes.TOO_MANY_SESSIONS,
        `this control has ${this.held} sessions open (at most ${this.perControl})`,
      );
    }
    this.held++;
    const stream = new PassThrough();
    stream.once('close', () => this.held--);
    return stream;
  }

  close(): void {
    this.closed = true;
  }
}

const TARGET = { kind: 'forward', port: 22 } as const;

function pool(options: ConstructorParameters<typeof ControlPool>[2] = {}, dialError?: Error) {
  const first = new FakeControl();
  const dialled: FakeControl[] = [];
  const p = new ControlPool(
    first,
    async () => {
      if (dialError) throw dialError;
      const c = new FakeControl();
      dialled.push(c);
      return c;
    },
    { maxControls: 3, perControl: 4, fullWaitMs: 0, ...options },
  );
  return { p, first, dialled };
}

function openMany(p: ControlPool, n: number): Promise<PromiseSettledResult<Duplex>[]> {
  return Promise.allSettled(Array.from({ length: n }, () => p.open('box', TARGET)));
}

test('a control more when the others are full, up to the cap; past it a clear refusal', async () => {
  const { p, first, dialled } = pool();
  const results = await openMany(p, 13);
  const opened = results.filter((r) => r.status === 'fulfilled');
  assert.equal(opened.length, 12);
  assert.deepEqual([first.held, ...dialled.map((c) => c.held)], [4, 4, 4]);
  const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(refused.reason.code, ErrorCodes.TOO_MANY_SESSIONS);
  assert.equal(
    refused.reason.message,
    'this forward holds 12 sessions at once, its most (12, 3 control connections of 4 each); close some first',
  );

  // One ends: its place is taken again, without a fourth control.
  (opened[5] as PromiseFulfilledResult<Duplex>).value.destroy();
  await waitFor(() => p.held === 11, 'the session ended');
  await p.open('box', TARGET);
  assert.equal(dialled.length, 2);
  p.close();
  assert.ok(first.closed && dialled.every((c) => c.closed));
});

test('at the cap, a session that ends within the wait makes room rather than a refusal', async () => {
  const { p } = pool({ maxControls: 1, fullWaitMs: 60_000 });
  const [a] = (await openMany(p, 4)) as PromiseFulfilledResult<Duplex>[];
  const waiting = p.open('box', TARGET);
  a!.value.destroy();
  assert.ok(await waiting);
});

test("the server's count behind ours: the refusal is asked again, not passed on", async () => {
  const { p, first } = pool({ maxControls: 1 });
  first.refuseNext = 2;
  assert.ok(await p.open('box', TARGET));
  assert.equal(first.held, 1);
});

test('a TOTP login opens one control only, and the refusal says why', async () => {
  const { p, dialled } = pool({ noExtraBecause: 'a TOTP code logs in once' });
  const results = await openMany(p, 5);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 4);
  assert.equal(dialled.length, 0);
  assert.match(
    (results[4] as PromiseRejectedResult).reason.message,
    /its most \(4, one control connection: a TOTP code logs in once\)/,
  );
});

test('an extra control refused for good is not dialled again: failed logins would lock the operator out', async () => {
  let dials = 0;
  const first = new FakeControl();
  const p = new ControlPool(
    first,
    async () => {
      dials++;
      throw new SwitchboardError(ErrorCodes.BAD_LOGIN, 'bad operator or password');
    },
    { maxControls: 3, perControl: 4, fullWaitMs: 0 },
  );
  const results = await openMany(p, 8);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 4);
  assert.equal(dials, 1);
  const reasons = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message as string);
  assert.match(reasons[0]!, /another could not be opened: bad operator or password/);
  assert.match(reasons.at(-1)!, /another control connection was refused: bad operator or password/);
});

test('an extra control left with no session closes once idle; the first stays', async () => {
  const { p, first, dialled } = pool({ idleMs: 20 });
  const opened = (await openMany(p, 5)) as PromiseFulfilledResult<Duplex>[];
  assert.equal(dialled.length, 1);
  for (const o of opened) o.value.destroy();
  await waitFor(() => dialled[0]!.closed, 'the idle extra control closed');
  assert.equal(first.closed, false);
  assert.equal(p.controls, 1);
  p.close();
});

test("the pool's figures are the server's: a control's budget, and four of them one client's", () => {
  assert.equal(SESSIONS_PER_CONTROL, CONTROL_SESSION_LIMITS.open);
  assert.equal(SESSIONS_PER_CONTROL * MAX_CONTROLS_PER_FORWARD, MAX_SESSIONS_PER_CLIENT);
});
