import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCodes } from '../../protocol/closeCodes.js';
import { ErrorCodes, SwitchboardError, toWireError } from '../../protocol/errors.js';
import { SessionTarget } from '../../protocol/messages.js';
import { WebSocketDuplex } from '../../net/wsDuplex.js';
import { answerRaw } from '../rawHttp.js';
import type { ServerContext } from '../context.js';
import { openFarEnd } from '../controlOps.js';
import { revokedBecause } from '../credentialStamp.js';
import { CONTROL_SESSION_LIMITS, SessionBudget } from '../sessionBudget.js';
import { toHttpError } from './apiError.js';
import { authenticate, type Principal } from './authenticate.js';
import type { SessionTable } from './sessionTable.js';

/** Where the console's pages open a session: `GET /api/v1/bridge?client=ID&kind=...` as a WebSocket. */
export const BRIDGE_PATH = '/api/v1/bridge';

/** How often a bridged session checks that the operator's login still holds. */
const RECHECK_MS = 5_000;
/** A message a browser sends is at most a session frame (shellFrames.ts: 1 MiB) and its header. */
const MAX_MESSAGE_BYTES = 1024 * 1024 + 64;
/** The close reason a browser sees is at most 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

/**
 * What the query asks for, as a session target (pure): `kind=shell&cols=C&rows=R` or
 * `kind=forward&port=N`. Anything else is refused before the upgrade.
 */
export function bridgeTarget(query: URLSearchParams): { client: string; target: SessionTarget } {
  const client = query.get('client') ?? '';
  if (!client || client.length > 128)
    throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, 'the bridge needs ?client=ID (or a name)');
  const kind = query.get('kind');
  const int = (name: string) => (query.has(name) ? Number(query.get(name)) : undefined);
  const raw =
    kind === 'shell'
      ? { kind, cols: int('cols') ?? 80, rows: int('rows') ?? 24 }
      : kind === 'forward'
        ? { kind, port: int('port') }
        : undefined;
  const parsed = raw && SessionTarget.safeParse(raw);
  if (!parsed?.success)
    throw new SwitchboardError(
      ErrorCodes.BAD_MESSAGE,
      'the bridge takes kind=shell (with cols and rows from 1 to 1000) or kind=forward with a port from 1 to 65535',
    );
  return { client, target: parsed.data };
}

function closeReason(err: unknown): string {
  const { code, message } = toWireError(err);
  let reason = `${code}: ${message}`;
  while (Buffer.byteLength(reason) > MAX_REASON_BYTES) reason = reason.slice(0, -2) + '…';
  return reason;
}

/**
 * Joins a console page's WebSocket to a relayed session (a terminal, a VNC port, any session kind),
 * so that the browser needs nothing but its own connection to the server: no port opens anywhere.
 * The session goes exactly as a control's does: found among the clients the operator may see,
 * opened through the member holding the client and checked by the client's own policy, counted in
 * the operator's session budget and in the active sessions (it is the broker that splices it), and
 * audited when it closes with its bytes and duration. The page authenticates with the console's
 * session cookie from the console's own origin (or a bearer token, for scripts); the session ends
 * when that login no longer holds.
 */
export class SessionBridge {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
  });
  /** One budget per operator name, like the API's exec: many tabs still share their operator's. */
  private readonly budgets = new Map<string, SessionBudget>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly sessions: SessionTable,
    private readonly now: () => number = Date.now,
  ) {}

  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    let who: Principal;
    let wanted: ReturnType<typeof bridgeTarget>;
    try {
      const acting = this.ctx.behaviour.acting();
      if (!acting.acting)
        throw new SwitchboardError(
          ErrorCodes.NOT_PRIMARY,
          `this server does not bridge sessions; use the primary ${acting.primary ?? 'unknown'}`,
        );
      who = authenticate(req, this.sessions, this.ctx.store, this.now());
      // A browser sends its cookie to a WebSocket whatever page opened it, and says which page that
      // was: only the console's own origin may use the cookie. (A bearer token is never ambient.)
      if (who.via === 'cookie' && hostOf(req.headers.origin) !== req.headers.host)
        throw new SwitchboardError(
          ErrorCodes.CSRF,
          `a session from another origin is refused (${String(req.headers.origin ?? 'no origin')})`,
        );
      wanted = bridgeTarget(url.searchParams);
    } catch (err) {
      const { status, body } = toHttpError(err);
      return answerRaw(socket, status, body);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.run(ws, who, wanted));
  }

  private budgetFor(name: string): SessionBudget {
    let budget = this.budgets.get(name);
    if (!budget) this.budgets.set(name, (budget = new SessionBudget(CONTROL_SESSION_LIMITS, `operator ${name}`)));
    return budget;
  }

  private async run(ws: WebSocket, who: Principal, { client, target }: ReturnType<typeof bridgeTarget>): Promise<void> {
    ws.on('error', () => ws.terminate());
    // The page may send as soon as it is open, before the client has answered: what it sends waits
    // in the stream (the WebSocket pauses when that is full) until the session is spliced.
    const near = new WebSocketDuplex(ws);
    near.pause();
    const operator = who.operator.name;
    const fail = (err: unknown) => {
      if (ws.readyState === ws.OPEN) ws.close(CloseCodes.SESSION_FAILED, closeReason(err));
    };
    let slot;
    try {
      slot = this.budgetFor(operator).take();
    } catch (err) {
      return fail(err);
    }
    let far: Duplex;
    let entry;
    try {
      ({ entry, far } = await openFarEnd(this.ctx, client, who.keys, target, operator));
    } catch (err) {
      slot.release();
      return fail(err);
    }
    const stillValid = this.loginHolds(who, entry.key);
    if (ws.readyState !== ws.OPEN || stillValid !== undefined) {
      far.destroy();
      slot.release();
      return stillValid ? void ws.close(CloseCodes.OPERATOR_REVOKED, stillValid) : undefined;
    }
    // Through the broker, as a control's session: its ticket is claimed at once, by this WebSocket.
    const ticket = this.ctx.broker.offer(
      far,
      { clientId: entry.id, clientName: entry.name, server: entry.server, operator, target },
      slot,
    );
    this.ctx.broker.tickets.take(ticket)?.(near, Buffer.alloc(0));
    this.watchLogin(ws, who, entry.key);
  }

  /**
   * Why the operator may no longer hold this session (logged out, expired, removed, password
   * changed, or no longer given the client's key), if so.
   */
  private loginHolds(who: Principal, clientKey: string): string | undefined {
    if (!this.sessions.live(who.token, this.now())) return 'the console session ended: log in again';
    const revoked = revokedBecause(who.session, this.ctx.store);
    if (revoked) return revoked;
    const now = this.ctx.store.operators().find((o) => o.name === who.operator.name);
    if (now && now.role !== 'admin' && !now.keys.includes(clientKey))
      return `operator ${now.name} may no longer reach clients of this key`;
    return undefined;
  }

  /**
   * Ends the session when the login that opened it ends. Typing in a terminal is using the console,
   * so input keeps the login from going idle, as any API call does.
   */
  private watchLogin(ws: WebSocket, who: Principal, clientKey: string): void {
    let used = false;
    ws.on('message', () => (used = true));
    const timer = setInterval(() => {
      if (used && this.sessions.live(who.token, this.now())) this.sessions.touch(who.token, this.now());
      used = false;
      const why = this.loginHolds(who, clientKey);
      if (why) {
        ws.close(CloseCodes.OPERATOR_REVOKED, why.slice(0, MAX_REASON_BYTES));
      }
    }, RECHECK_MS);
    timer.unref();
    ws.once('close', () => clearInterval(timer));
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }
}

function hostOf(origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
