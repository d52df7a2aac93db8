/**
 * Guessing passwords: a burst of parallel wrong logins gets no more tries than the same guesses
 * one after another (the attempt is counted before the password is hashed, and only a few run at
 * once per account and address); an unknown operator name costs the same scrypt as a known one;
 * a TOTP code is accepted once. Real server processes for the bursts and the replay; the auth
 * function itself, with an observable password check, for the unknown names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { ErrorCodes, type SwitchboardError } from '../src/protocol/errors.js';
import { LoginLimiter, MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT } from '../src/server/loginLimiter.js';
import { silentLogger } from '../src/server/logger.js';
import { authenticateOperator } from '../src/server/operatorAuth.js';
import { UsedTotpSteps } from '../src/server/totpReplay.js';
import { ConfigStore } from '../src/store/configStore.js';
import { hashPassword } from '../src/store/passwords.js';
import { defaultSettings } from '../src/store/settings.js';
import { currentTotp, newTotpSecret } from '../src/store/totp.js';
import { addOperator, enrolTotp, login, request } from './helpers/api.js';
import { addKey, Proc, runCli, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { rawControl, stopAll } from './helpers/sb.js';

const FREE = 3;
const BURST = 300;
/**
 * Attempts actually checked in a burst: the free ones, then one more each time the lock
 * (1 s, 2 s, 4 s, 8 s ...) runs out while the burst still lasts; a burst that took 15 s would
 * get 4 of those. Before the fix every one of the burst was checked.
 */
const CHECKED_AT_MOST = FREE + MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT + 4;

const dir = tempDir('sb-login-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let adminToken: string;

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  key = await addKey(server.data, 'k');
  assert.equal((await runCli(['config', '--data', server.data, 'set', 'lockout-attempts', String(FREE)])).code, 0);
  await addOperator(server.data, 'root', 'root-password-1', 'admin');
  for (const name of ['victim-ws', 'victim-api'])
    await addOperator(server.data, name, `${name}-right-password`, 'admin');
  // The admin logs in first, from an address of its own: the bursts lock theirs.
  adminToken = (
    await waitFor(
      () => login(server.address, 'root', 'root-password-1', undefined, '127.0.0.9').catch(() => undefined),
      'the operators to be in force',
    )
  ).token;
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

async function failedLogins(operator: string): Promise<number> {
  const audit = await request(server.address, 'GET', 'audit?limit=1000', undefined, { token: adminToken });
  assert.equal(audit.status, 200, audit.text);
  return (audit.body as { action: string; actor: string }[]).filter(
    (e) => e.action === 'login.failed' && e.actor === operator,
  ).length;
}

describe('a burst of parallel wrong logins', () => {
  test('on the control channel: only the free attempts are checked, the rest refused at once; later the right password works', async (t) => {
    const peers = await Promise.all(
      Array.from({ length: BURST }, () =>
        rawControl(server.address, key, { operator: 'victim-ws', password: 'a-wrong-guess' }),
      ),
    );
    const closes = await Promise.all(peers.map((p) => p.closeResult(60_000)));
    const codes = closes.map((c) => c.code);
    assert.ok(
      codes.every((c) => c === CloseCodes.BAD_LOGIN || c === CloseCodes.LOCKED_OUT),
      JSON.stringify(codes),
    );
    const checked = await failedLogins('victim-ws');
    assert.equal(
      codes.filter((c) => c === CloseCodes.BAD_LOGIN).length,
      checked,
      'each refusal after a check is audited',
    );
    t.diagnostic(`${checked} of ${BURST} guesses were checked`);
    assert.ok(checked >= 1 && checked <= CHECKED_AT_MOST, `${checked} of ${BURST} guesses were checked`);
    assert.ok(closes.some((c) => /too many logins at once|too many failed logins/.test(c.reason)));
    // Once the lock has run out, the right password is let in (the refusals did not prolong it).
    const control = await waitFor(
      () =>
        ControlClient.connect({
          gateway: server.address,
          key,
          operator: 'victim-ws',
          password: 'victim-ws-right-password',
          dial: { tls: false },
        }).catch((err: SwitchboardError) => {
          assert.equal(err.code, ErrorCodes.LOCKED_OUT, err.message);
          return undefined;
        }),
      'the lock to run out',
      60_000,
      500,
    );
    control.close();
  });

  test('on the API: only the free attempts are checked, the rest answered 429 at once; later the right password works', async (t) => {
    const answers = await Promise.all(
      Array.from({ length: BURST }, () =>
        request(
          server.address,
          'POST',
          'login',
          { operator: 'victim-api', password: 'a-wrong-guess' },
          { localAddress: '127.0.0.2' },
        ),
      ),
    );
    const statuses = answers.map((a) => a.status);
    assert.ok(
      statuses.every((s) => s === 401 || s === 429),
      JSON.stringify(statuses),
    );
    assert.ok(answers.filter((a) => a.status === 429).every((a) => a.body.error.code === ErrorCodes.LOCKED_OUT));
    const checked = await failedLogins('victim-api');
    assert.equal(statuses.filter((s) => s === 401).length, checked);
    t.diagnostic(`${checked} of ${BURST} guesses were checked`);
    assert.ok(checked >= 1 && checked <= CHECKED_AT_MOST, `${checked} of ${BURST} guesses were checked`);
    await waitFor(
      async () => {
        const right = await request(
          server.address,
          'POST',
          'login',
          { operator: 'victim-api', password: 'victim-api-right-password' },
          { localAddress: '127.0.0.2' },
        );
        if (right.status !== 200) assert.equal(right.status, 429, right.text);
        return right.status === 200;
      },
      'the lock to run out',
      60_000,
      500,
    );
  });
});

test('a TOTP code is accepted once: the same code again is refused, on the API and on the control channel', async () => {
  // A server of its own: the bursts above locked this machine's main address.
  const own = await startServer(`${dir.path}/totp`);
  procs.push(own.proc);
  const key = await addKey(own.data, 'k');
  const password = 'totp-op-right-password';
  await addOperator(own.data, 'totp-op', password, 'admin');
  // Logins read the operator from the store itself: the enrolment is in force at once.
  const secret = await enrolTotp(own.data, 'totp-op');
  const connect = (totp: string) =>
    ControlClient.connect({ gateway: own.address, key, operator: 'totp-op', password, totp, dial: { tls: false } });

  const code = currentTotp(secret);
  const first = await request(
    own.address,
    'POST',
    'login',
    { operator: 'totp-op', password, totp: code },
    { localAddress: '127.0.0.4' },
  );
  assert.equal(first.status, 200, first.text);
  const again = await request(
    own.address,
    'POST',
    'login',
    { operator: 'totp-op', password, totp: code },
    { localAddress: '127.0.0.4' },
  );
  assert.equal(again.status, 401, again.text);
  assert.match(again.body.error.message, /TOTP code already used/);
  // The control channel shares the memory: the code used on the API is spent there too.
  await assert.rejects(
    connect(code),
    (err: SwitchboardError) => err.code === ErrorCodes.BAD_LOGIN && /already used/.test(err.message),
  );
  // Two logins racing with one fresh code: one gets in, the other is refused.
  const next = await waitFor(
    () => currentTotp(secret) !== code && currentTotp(secret),
    'the next TOTP step',
    40_000,
    200,
  );
  const race = await Promise.allSettled([
    connect(next),
    request(own.address, 'POST', 'login', { operator: 'totp-op', password, totp: next }, { localAddress: '127.0.0.5' }),
  ]);
  const controlIn = race[0].status === 'fulfilled';
  const apiIn = race[1].status === 'fulfilled' && race[1].value.status === 200;
  assert.equal(
    Number(controlIn) + Number(apiIn),
    1,
    JSON.stringify(race.map((r) => (r.status === 'fulfilled' ? 'in' : String(r.reason)))),
  );
  if (race[0].status === 'fulfilled') race[0].value.close();
});

describe('the auth function', () => {
  async function setUp(totp = false) {
    const store = ConfigStore.memory();
    store.putOperator({ name: 'known', passwordHash: await hashPassword('right-password'), role: 'admin', keys: [] });
    const secret = newTotpSecret();
    if (totp) store.setOperatorTotp('known', secret);
    const ctx = {
      store,
      limiter: new LoginLimiter(5),
      logger: silentLogger(),
      config: { settings: defaultSettings() },
      totpSteps: new UsedTotpSteps(),
    };
    const seen: string[] = [];
    const { verifyPassword } = await import('../src/store/passwords.js');
    const verify = async (password: string, stored: string) => {
      seen.push(stored);
      return verifyPassword(password, stored);
    };
    return { ctx: ctx as unknown as Parameters<typeof authenticateOperator>[0], verify, seen, secret, store };
  }

  test('an unknown operator name is checked against a hash like a known one (same scrypt parameters), and refused alike', async () => {
    const { ctx, verify, seen, store } = await setUp();
    const unknown = await authenticateOperator(
      ctx,
      { name: 'nobody', password: 'right-password', address: '10.0.0.1' },
      verify,
    );
    const known = await authenticateOperator(
      ctx,
      { name: 'known', password: 'wrong-password', address: '10.0.0.2' },
      verify,
    );
    assert.equal(seen.length, 2, 'one password check each');
    const params = (h: string) => h.split('$').slice(0, 4).join('$');
    assert.equal(params(seen[0]!), params(store.operatorSecrets('known')!.passwordHash));
    assert.notEqual(seen[0], store.operatorSecrets('known')!.passwordHash);
    assert.deepEqual(unknown, known, 'the same answer: the name is not confirmed');
  });

  test('attempts beyond the per-account limit in flight are refused before any hashing', async () => {
    const { ctx, verify, seen } = await setUp();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        authenticateOperator(ctx, { name: 'known', password: 'wrong', address: `10.0.1.${i}` }, verify),
      ),
    );
    assert.equal(seen.length, MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT);
    assert.equal(
      outcomes.filter((o) => !o.ok && o.closeCode === CloseCodes.LOCKED_OUT).length,
      10 - MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT,
    );
  });

  test('a success gives its attempt back: logins that succeed never lock the account or address', async () => {
    const { ctx, verify } = await setUp();
    for (let i = 0; i < 20; i++) {
      const outcome = await authenticateOperator(
        ctx,
        { name: 'known', password: 'right-password', address: '10.0.2.1' },
        verify,
      );
      assert.ok(outcome.ok, JSON.stringify(outcome));
    }
  });

  test('a TOTP code of a step already used, or an earlier one, is refused', async () => {
    const { ctx, verify, secret } = await setUp(true);
    const code = currentTotp(secret);
    const ok = await authenticateOperator(
      ctx,
      { name: 'known', password: 'right-password', totp: code, address: '10.0.3.1' },
      verify,
    );
    assert.ok(ok.ok);
    const replay = await authenticateOperator(
      ctx,
      { name: 'known', password: 'right-password', totp: code, address: '10.0.3.1' },
      verify,
    );
    assert.deepEqual(replay, {
      ok: false,
      closeCode: CloseCodes.BAD_LOGIN,
      reason: 'TOTP code already used; wait for the next one',
    });
  });
});
