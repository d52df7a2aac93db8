import type WebSocket from 'ws';
import { toClientInfo } from './directory.js';
import { CloseCodes, closeCodeName } from '../protocol/closeCodes.js';
import { ErrorCodes, SwitchboardError, toWireError } from '../protocol/errors.js';
import {
  BrowseParams,
  ControlToServer,
  decode,
  OpenParams,
  type ControlLogin,
  type ControlRequest,
} from '../protocol/messages.js';
import { findProvenKey, newNonce } from '../protocol/proof.js';
import type { LoggedInControl, ServerContext } from './context.js';
import { revokedBecause } from './credentialStamp.js';
import { browseClients, openFarEnd, visibleClients } from './controlOps.js';
import { offlineDevices } from './offlineDevices.js';
import type { Operator } from '../store/configStore.js';
import { authenticateOperator } from './operatorAuth.js';
import { CONTROL_SESSION_LIMITS, SessionBudget, withOperatorPlace } from './sessionBudget.js';
import { closeWith, remoteAddressOf, sendJson } from '../net/wsUtil.js';

/** Sessions one control may have opening (or offered and not yet claimed) at once. */
export const MAX_PENDING_SESSIONS_PER_CONTROL = CONTROL_SESSION_LIMITS.unclaimed;
/** How long a control remembers a ticket it was given: longer than a ticket lives unclaimed (10 s by default). */
const TICKET_MEMORY_MS = 60_000;

/**
 * A control's channel: challenge, login (a proof of its key, and an operator's password once any
 * operator exists), then requests: browse, servers, open. Only the acting primary answers.
 */
export function handleControlConnection(ctx: ServerContext, ws: WebSocket, remote: { remoteAddress?: string }): void {
  const address = remoteAddressOf(remote);
  const log = ctx.logger.child({ peer: address, channel: 'control' });
  const acting = ctx.behaviour.acting();
  if (!acting.acting) {
    const primary = acting.primary ?? 'unknown';
    log.info({ primary }, 'control refused: not the acting primary');
    return closeWith(ws, CloseCodes.NOT_PRIMARY, `this server does not answer controls; browse the primary ${primary}`);
  }
  const nonce = newNonce();
  let session: LoggedInControl | undefined;
  // Tickets handed to this control and their far ends: a revoked control's unclaimed ones are withdrawn.
  const offered = new Map<string, { far: { destroy(): void }; at: number }>();
  let loggingIn = false;
  const budget = new SessionBudget(CONTROL_SESSION_LIMITS, 'this control');

  const loginTimer = setTimeout(() => {
    ctx.metrics.refusals.inc({ reason: 'control_login_timeout' });
    closeWith(ws, CloseCodes.HELLO_TIMEOUT, 'no login in time');
  }, ctx.config.settings['hello-timeout'] * 1000);
  ws.on('close', () => {
    clearTimeout(loginTimer);
    if (session) ctx.controls.delete(session);
  });
  sendJson(ws, { type: 'challenge', nonce, server: ctx.advertise, epoch: ctx.behaviour.epoch() });

  ws.on('message', (data, isBinary) => {
    if (isBinary) return refuse(CloseCodes.BAD_MESSAGE, 'binary frames are not part of the protocol');
    const decoded = decode(ControlToServer, data);
    if (!decoded.ok) return refuse(CloseCodes.BAD_MESSAGE, `malformed message: ${decoded.error}`);
    const message = decoded.value;
    if (message.type === 'login') {
      if (session || loggingIn) return refuse(CloseCodes.BAD_MESSAGE, 'already logged in');
      loggingIn = true;
      void onLogin(message);
    } else if (!session) {
      refuse(CloseCodes.LOGIN_REQUIRED, 'log in first');
    } else {
      void onRequest(message, session).then(
        (result) => sendJson(ws, { type: 'response', req: message.req, result }),
        (err: unknown) => sendJson(ws, { type: 'response', req: message.req, error: toWireError(err) }),
      );
    }
  });

  function refuse(code: number, reason: string): void {
    ctx.metrics.refusals.inc({ reason: `control_${closeCodeName(code)}` });
    log.warn({ closeCode: code, reason }, 'control refused');
    closeWith(ws, code, reason);
  }

  async function onLogin(login: ControlLogin): Promise<void> {
    clearTimeout(loginTimer);
    // The keys and whether a login is needed, as the store is now (a prepared PRAGMA when
    // unchanged): what `config --data` wrote a moment ago holds at once, not at the next poll, which
    // would admit a key alone and then close the channel as revoked.
    ctx.config.check();
    const key = findProvenKey(ctx.config.keys, 'control', nonce, login.operator ?? '', login.proof);
    if (!key) return refuse(CloseCodes.BAD_KEY, 'key not accepted');
    let operator = '';
    let stamp = '';
    let expiresAt: number | undefined;
    if (ctx.config.operatorCount > 0 || login.operator || login.token !== undefined) {
      const viaToken = login.token !== undefined ? tokenLogin(login.token, login.operator) : undefined;
      const outcome =
        viaToken ??
        (await authenticateOperator(ctx, {
          name: login.operator,
          password: login.password,
          totp: login.totp,
          address,
        }));
      if (!outcome.ok) return refuse(outcome.closeCode, outcome.reason);
      expiresAt = viaToken?.ok ? viaToken.expiresAt : undefined;
      if (outcome.operator.role !== 'admin' && !outcome.operator.keys.includes(key.name)) {
        return refuse(CloseCodes.FORBIDDEN, `operator ${outcome.operator.name} may not use key ${key.name}`);
      }
      operator = outcome.operator.name;
      stamp = outcome.stamp;
    }
    if (ws.readyState !== ws.OPEN) return;
    session = { key: key.name, operator, stamp, revoke, close: (code, reason) => closeWith(ws, code, reason) };
    ctx.controls.add(session);
    log.info({ operator: operator || undefined, keyName: key.name }, 'control logged in');
    ctx.store.audit(operator || `key:${key.name}`, 'control.login', {
      address,
      ...(expiresAt !== undefined ? { via: 'token' } : {}),
    });
    sendJson(ws, {
      type: 'ready',
      server: ctx.advertise,
      role: ctx.role,
      operator: operator || undefined,
      expiresAt: expiresAt !== undefined ? new Date(expiresAt).toISOString() : undefined,
      pins: ctx.clusterAddressesWithPins().pins,
    });
  }

  /**
   * A login with the API session token that `control login` kept, in place of password and TOTP
   * (the key proof is still required). The token must be the named operator's: the key proof is
   * bound to that name.
   */
  function tokenLogin(
    token: string,
    name: string | undefined,
  ):
    | { ok: true; operator: Operator; expiresAt: number; stamp: string }
    | { ok: false; closeCode: number; reason: string } {
    const found = ctx.operatorOfToken(token);
    if (!found)
      return {
        ok: false,
        closeCode: CloseCodes.LOGIN_REQUIRED,
        reason: 'session token expired, ended or unknown; log in again',
      };
    if (found.operator.name !== name)
      return {
        ok: false,
        closeCode: CloseCodes.BAD_LOGIN,
        reason: `the session token is not operator ${name ?? '(none)'}'s`,
      };
    return { ok: true, operator: found.operator, expiresAt: found.expiresAt, stamp: found.stamp };
  }

  /** Closes this channel because its login no longer holds, and withdraws its unclaimed sessions. */
  function revoke(code: number, reason: string): void {
    if (ws.readyState !== ws.OPEN) return;
    for (const [ticket, { far }] of offered) if (ctx.broker.tickets.take(ticket)) far.destroy();
    offered.clear();
    ctx.store.audit(session?.operator || `key:${session?.key ?? ''}`, 'control.revoked', { address, reason });
    refuse(code, reason);
  }

  /** Refuses a request (and closes the channel) when the login it rides on was revoked meanwhile. */
  function checkStillValid(who: LoggedInControl): void {
    const why = controlRevokedBecause(ctx, who);
    if (!why) return;
    who.revoke(why.code, why.reason);
    throw new SwitchboardError(ErrorCodes.OPERATOR_REVOKED, why.reason);
  }

  async function onRequest(request: ControlRequest, who: LoggedInControl): Promise<unknown> {
    checkStillValid(who);
    const keys = new Set([who.key]);
    switch (request.method) {
      case 'browse': {
        const params = BrowseParams.safeParse(request.params);
        if (!params.success)
          throw new SwitchboardError(
            ErrorCodes.BAD_MESSAGE,
            `browse: ${params.error.issues[0]?.path.join('.') ?? ''} ${params.error.issues[0]?.message ?? 'bad parameters'}`,
          );
        if (!params.data.all) return browseClients(ctx.directory, keys, params.data);
        if (params.data.limit !== undefined || params.data.state !== undefined)
          throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, 'browse: all does not page and takes no state');
        const online = visibleClients(ctx.directory, keys, params.data).map(toClientInfo);
        return [...online, ...offlineDevices(ctx.devices, keys, params.data)];
      }
      case 'servers':
        return ctx.behaviour.servers();
      case 'open': {
        const params = OpenParams.safeParse(request.params);
        if (!params.success)
          throw new SwitchboardError(
            ErrorCodes.BAD_MESSAGE,
            `open: ${params.error.issues[0]?.message ?? 'bad parameters'}`,
          );
        const operator = who.operator || `key:${who.key}`;
        const channelSlot = budget.take();
        let slot = channelSlot;
        try {
          slot = withOperatorPlace(channelSlot, ctx.operatorSessions.take(operator, params.data.target.kind));
          const { entry, far } = await openFarEnd(ctx, params.data.client, keys, params.data.target, operator);
          try {
            checkStillValid(who);
          } catch (err) {
            far.destroy();
            throw err;
          }
          const ticket = ctx.broker.offer(
            far,
            {
              clientId: entry.id,
              clientName: entry.name,
              server: entry.server,
              operator,
              target: params.data.target,
            },
            slot,
          );
          // Remembered while it may still be unclaimed; older ones (claimed or expired) are forgotten.
          const now = Date.now();
          for (const [old, { at }] of offered) {
            if (now - at < TICKET_MEMORY_MS) break;
            offered.delete(old);
          }
          offered.set(ticket, { far, at: now });
          return { ticket, client: toClientInfo(entry) };
        } catch (err) {
          slot.release();
          throw err;
        }
      }
    }
  }
}

/**
 * Why a logged-in control must be closed now: its operator was removed, its password or TOTP
 * changed, or it may no longer use the channel's key (OPERATOR_REVOKED), or the key was removed
 * (KEY_REMOVED). Checked at each request and whenever
 * the configuration changes (server.ts onConfigChanged).
 */
export function controlRevokedBecause(
  ctx: Pick<ServerContext, 'store' | 'config'>,
  control: LoggedInControl,
): { code: number; reason: string } | undefined {
  if (!ctx.config.keys.some((k) => k.name === control.key))
    return { code: CloseCodes.KEY_REMOVED, reason: `key ${control.key} was removed` };
  const why = revokedBecause(control, ctx.store);
  if (why) return { code: CloseCodes.OPERATOR_REVOKED, reason: why };
  const op = control.operator ? ctx.store.operatorSecrets(control.operator) : undefined;
  if (op && op.role !== 'admin' && !op.keys.includes(control.key)) {
    return { code: CloseCodes.OPERATOR_REVOKED, reason: `operator ${op.name} may no longer use key ${control.key}` };
  }
  return undefined;
}
