/**
 * Issue 20, "logins survive failover": a console handover ticket (src/server/api/handoverTicket.ts)
 * carries a login, not a pass around it. A ticket issued before the operator's password or TOTP
 * changed, or before the operator was removed, opens nothing when redeemed: the redeem route asks
 * the same question every request does (credentialStamp.ts revokedBecause), refuses with a 401 that
 * says why, and sets no cookie. A fresh login after the change hands over as before.
 *
 * Where that check is the only thing standing: a server takes another process's write to its store
 * (`switchboard config --data`, as here) at its next poll of the store, a quarter second later. Until
 * then the session sits in its memory with the stamp it logged in with, and a redeem that arrives in
 * that window met no other test (after the poll, revokeStale forgets the session and the ticket finds
 * none). The poll's timing is not something a test can hit on a loaded machine, so this file runs the
 * server in-process on a real socket with its poll stopped: the window held open. The changes
 * themselves are made by the real CLI, in its own process, on the running server's data directory.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger } from '../src/server/logger.js';
import { SwitchboardServer } from '../src/server/server.js';
import { ConfigStore } from '../src/store/configStore.js';
import { addOperator, enrolTotp, login, request, unusedTotp, type Answer } from './helpers/api.js';
import { runCli, tempDir } from './helpers/harness.js';

const dir = tempDir('sb-handover-revoke-');
const data = `${dir.path}/data`;
const OLD_PW = 'handover-revoke-password-1';
const NEW_PW = 'handover-revoke-password-2';
let server: SwitchboardServer;
let store: ConfigStore;

before(async () => {
  await addOperator(data, 'ops', OLD_PW, 'admin');
  await addOperator(data, 'totp-ops', OLD_PW, 'operator');
  await addOperator(data, 'leaver', OLD_PW, 'operator');
  store = ConfigStore.open(data);
  server = new SwitchboardServer({ store, logger: createLogger('silent'), host: '127.0.0.1', port: 0 });
  await server.start();
  // The window between another process's write and this server's next look at its store, held open.
  server.config.stop();
});

after(async () => {
  await server?.stop();
  store?.close();
  dir.remove();
});

async function ticketOf(token: string): Promise<string> {
  const issued = await request(server.address, 'POST', 'handover', undefined, { token });
  assert.equal(issued.status, 200, issued.text);
  return issued.body.ticket as string;
}

function redeem(ticket: string): Promise<Answer> {
  return request(server.address, 'POST', 'handover/redeem', { ticket });
}

function assertRefused(answer: Answer, why: RegExp): void {
  assert.equal(answer.status, 401, answer.text);
  assert.equal(answer.body.error.code, 'SB_ERR_LOGIN_REQUIRED', answer.text);
  assert.match(answer.body.error.message, why);
  assert.equal(answer.headers['set-cookie'], undefined, 'no cookie for a login that no longer holds');
}

async function cli(...args: string[]): Promise<void> {
  const result = await runCli(['config', '--data', data, ...args], { env: { SB_PW: NEW_PW } });
  assert.equal(result.code, 0, result.stderr);
}

test('a ticket issued before a password change is refused, and says why; a fresh login hands over', async () => {
  const before = await login(server.address, 'ops', OLD_PW);
  const ticket = await ticketOf(before.token);

  // Re-adding an operator replaces its password: what an admin does for a forgotten one.
  await cli('operator', 'add', 'ops', '--role', 'admin', '--password-env', 'SB_PW');
  assertRefused(await redeem(ticket), /operator ops's password or TOTP changed: log in again/);
  assert.equal((await request(server.address, 'GET', 'session', undefined, { token: before.token })).status, 401);
  assert.equal((await redeem(ticket)).status, 401, 'and it stays refused');

  const fresh = await login(server.address, 'ops', NEW_PW);
  const taken = await redeem(await ticketOf(fresh.token));
  assert.equal(taken.status, 200, taken.text);
  assert.equal(taken.body.operator, 'ops');
  assert.equal(String(taken.headers['set-cookie']).split(';')[0], fresh.cookie, 'the fresh session, as a cookie');
});

test("a ticket issued before the operator's TOTP enrolment is refused; a login with a code hands over", async () => {
  const before = await login(server.address, 'totp-ops', OLD_PW);
  const ticket = await ticketOf(before.token);

  const secret = await enrolTotp(data, 'totp-ops');
  assertRefused(await redeem(ticket), /operator totp-ops's password or TOTP changed: log in again/);

  const fresh = await login(server.address, 'totp-ops', OLD_PW, await unusedTotp(secret));
  const taken = await redeem(await ticketOf(fresh.token));
  assert.equal(taken.status, 200, taken.text);
  assert.equal(String(taken.headers['set-cookie']).split(';')[0], fresh.cookie);
});

test('a ticket of an operator removed since is refused', async () => {
  const before = await login(server.address, 'leaver', OLD_PW);
  const ticket = await ticketOf(before.token);

  await cli('operator', 'remove', 'leaver');
  assertRefused(await redeem(ticket), /operator leaver was removed/);
  assert.equal((await login(server.address, 'ops', NEW_PW)).role, 'admin', 'everyone else is as before');
});

test('once the server has read the change (its poll), the ticket still opens nothing, and says why', async () => {
  const before = await login(server.address, 'ops', NEW_PW);
  const ticket = await ticketOf(before.token);

  await cli('operator', 'add', 'ops', '--role', 'admin', '--password-env', 'SB_PW');
  // What the stopped poll does: the stale session is forgotten, so the ticket finds no session at all,
  // and the token's signature no longer holds under the stamp the store has now.
  server.config.check();
  assertRefused(await redeem(ticket), /^operator ops's password or TOTP changed: log in again$/);

  // Logged out: said so.
  const gone = await login(server.address, 'ops', NEW_PW);
  const late = await ticketOf(gone.token);
  assert.equal((await request(server.address, 'POST', 'logout', undefined, { token: gone.token })).status, 204);
  assertRefused(await redeem(late), /^that session was logged out; log in$/);
});
