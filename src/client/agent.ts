import { EventEmitter } from 'node:events';
import { hostname, platform as osPlatform, release } from 'node:os';
import type WebSocket from 'ws';
import { CloseCodes, errorCodeForClose } from '../protocol/closeCodes.js';
import { ErrorCodes, toWireError } from '../protocol/errors.js';
import { decode, ServerToClient, type SessionTarget } from '../protocol/messages.js';
import { placementHeaders } from '../protocol/placementRequest.js';
import { keyProof } from '../protocol/proof.js';
import { openKeyHandover } from '../protocol/keyHandover.js';
import { newExchangeKey, openTicket, resumeProof, ticketUsable, type HeldTicket } from '../protocol/resumeTicket.js';
import {
  openDataConnection,
  openWebSocket,
  REDIRECT_EVENT,
  type DialOptions,
  type UpgradeRedirect,
} from '../net/dial.js';
import { ServerList } from '../net/serverList.js';
import { Backoff } from '../net/backoff.js';
import { VouchedPins } from '../net/pins.js';
import { watchPeer, type PeerWatch } from '../net/peerWatch.js';
import type { ClientIdentity } from './identity.js';
import { checkPolicy, type LocalPolicy } from './policy.js';
import { prepareSession } from './sessionRunner.js';

export interface ClientOptions {
  gateway: string;
  secondary?: string;
  key: string;
  identity: ClientIdentity;
  name?: string;
  group?: string;
  platform?: string;
  policy: LocalPolicy;
  dial: DialOptions;
  backoff?: Backoff;
  /** Sessions this client runs at once; past it, it refuses (default MAX_CLIENT_SESSIONS). */
  maxSessions?: number;
  /** Keeps a rotated key's new secret (the CLI writes it to the state directory); it is used from then on. */
  onKeyRotated?(keyName: string, secret: string): void;
}

export type ClientStatus = 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface StatusDetail {
  server?: string;
  reason?: string;
  delayMs?: number;
  /** A busy server's hint (503 with a retry time) that this wait honours. */
  retryAfterMs?: number;
  /** The stable error code of a refusal (SB_ERR_BAD_KEY, ...), when the server or the dial gave one: what the log's advice is chosen by. */
  code?: string;
}

interface ClientEvents {
  status: [status: ClientStatus, detail: StatusDetail];
  session: [event: { target: SessionTarget; refused?: string }];
  keyRotated: [event: { key: string; stored: boolean; error?: string }];
}

const MAX_REDIRECTS = 4;
/**
 * Sessions a client runs at once, whatever its server asks: each holds a data connection and a
 * local socket or a process, and a client out of file descriptors could not even reconnect.
 */
export const MAX_CLIENT_SESSIONS = 256;
/** A server's retry hint is honoured up to this; a longer one (a broken or hostile server) is cut. */
const MAX_RETRY_HINT_MS = 5 * 60_000;
/**
 * How long a server that took our connection may take to answer the upgrade, then to welcome us:
 * a heartbeat (the time the cluster allows any peer to show life; 30 s by default), never less than
 * this. Its TCP connect stays bounded by the dial's own timeout. After a failover thousands of
 * clients arrive at once and the servers left answer them in turn: a client that gave up at 10 s
 * went to the back of the queue, and the server still worked through its stale request (the fleet
 * bench: a median of 8 attempts per returning client, most of them timeouts). A hung server (its
 * kernel still takes connections) holds an attempt that long.
 */
export const MIN_ANSWER_TIMEOUT_MS = 10_000;
/** Heartbeats without a ping from the server before the agent gives the connection up. */
const WATCHDOG_HEARTBEATS = 2.5;

/**
 * The agent on a managed machine: dials out to the gateway, proves its key, follows a redirect to
 * the server that will hold it, answers heartbeats, runs sessions its policy allows, and
 * reconnects forever with jittered backoff, trying the primary and, in turn, the secondary and the
 * members (each client in its own order, so a lost primary's clients spread over those that remain).
 */
export class ClientAgent extends EventEmitter<ClientEvents> {
  status: ClientStatus = 'stopped';
  server: string | undefined;
  private ws: WebSocket | undefined;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: PeerWatch | undefined;
  private readonly backoff: Backoff;
  private heartbeatMs = 30_000;
  private redirects = 0;
  /** Sessions being set up or running, each until its data connection closes. */
  private sessions = 0;
  /**
   * The gateway, then where the cluster told us to go if the first contact fails (learned from
   * welcome): the secondary and the members, in an order of this client's own (by its id).
   */
  private readonly servers: ServerList;
  /** The key secret proven at each hello: a rotation replaces it. */
  private key: string;
  /**
   * Pins of the cluster's servers, vouched for by servers we trusted (a redirect, a welcome): a
   * client pinned to its primary alone reaches the member it is placed on and the secondary.
   */
  private readonly vouched = new VouchedPins();
  /**
   * A resume ticket from the last signed hello's welcome (resumeTicket.ts): proven instead of a
   * signature while it lasts. In memory only: a restarted agent signs its first hello.
   */
  private ticket: HeldTicket | undefined;
  /** The X25519 key tickets are sealed to, made the first time a server offers resumption. */
  private exchange: ReturnType<typeof newExchangeKey> | undefined;

  constructor(private readonly options: ClientOptions) {
    super();
    this.key = options.key;
    this.backoff = options.backoff ?? new Backoff();
    this.servers = new ServerList(options.gateway, options.secondary, undefined, options.identity.id);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect(this.servers.primary);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.watchdog?.stop();
    this.ws?.terminate();
    this.setStatus('stopped', {});
  }

  private setStatus(status: ClientStatus, detail: StatusDetail): void {
    this.status = status;
    this.emit('status', status, detail);
  }

  private connect(target: string): void {
    if (this.stopped) return;
    this.setStatus('connecting', { server: target });
    // The key proven on the upgrade request lets a primary redirect us with no WebSocket at all,
    // and puts us in the admission budget that connections proving nothing cannot take
    // (server/admission.ts): so it goes on every attempt, the server a redirect names included.
    const headers = placementHeaders(this.key, this.options.identity.id, Date.now());
    const dial = { answerTimeoutMs: Math.max(MIN_ANSWER_TIMEOUT_MS, this.heartbeatMs), ...this.dialFor(target) };
    const ws = openWebSocket(target, '/v1/client', dial, headers);
    this.ws = ws;
    // A server that took the upgrade but never welcomes us (stalled, or not ours) is left for the next.
    const welcomeTimer = setTimeout(() => {
      closeReason ||= `no welcome from ${target} within ${dial.answerTimeoutMs} ms`;
      ws.terminate();
    }, dial.answerTimeoutMs);
    let nextTarget: string | undefined;
    let nextDelayMs = 0;
    let welcomed = false;
    let closeReason = '';
    let retryAfterMs: number | undefined;
    let errorCode: string | undefined;
    /** This connection's hello proved a ticket, not a signature. */
    let resumed = false;

    ws.on('message', (data) => {
      const decoded = decode(ServerToClient, data);
      if (!decoded.ok) {
        closeReason = `bad message from server: ${decoded.error}`;
        ws.terminate();
        return;
      }
      const msg = decoded.value;
      switch (msg.type) {
        case 'challenge': {
          const hello = this.hello(msg);
          resumed = hello.resume !== undefined;
          ws.send(JSON.stringify(hello));
          break;
        }
        case 'welcome':
          clearTimeout(welcomeTimer);
          welcomed = true;
          this.redirects = 0;
          this.servers.succeeded();
          this.backoff.reset();
          this.server = msg.server;
          this.heartbeatMs = msg.heartbeat * 1000;
          if (msg.cluster.primary)
            this.servers.update(
              msg.cluster.primary,
              msg.cluster.secondary ?? this.servers.secondary,
              msg.cluster.members,
            );
          this.vouched.learnAll(msg.cluster.pins);
          if (msg.resume) this.takeTicket(msg.resume);
          this.armWatchdog();
          this.setStatus('connected', { server: msg.server });
          break;
        case 'redirect':
          this.vouched.learn(msg.to, msg.pin);
          nextTarget = msg.to;
          closeReason = `redirected to ${msg.to}`;
          break;
        case 'reconnect':
          if (msg.to) this.vouched.learn(msg.to, msg.pin);
          closeReason = msg.reason;
          nextTarget = msg.to;
          nextDelayMs = msg.delayMs ?? 0;
          break;
        case 'session':
          void this.runSession(target, msg.ticket, msg.target);
          break;
        case 'key-rotated':
          this.takeRotatedKey(msg);
          break;
        case 'heartbeat':
          // The watch starts again at the new pace: silence is judged by it from now on.
          this.heartbeatMs = msg.heartbeat * 1000;
          this.armWatchdog();
          break;
      }
    });

    ws.on('ping', () => this.watchdog?.seen());
    ws.on(REDIRECT_EVENT, (redirect: UpgradeRedirect) => {
      this.vouched.learn(redirect.to, redirect.pin);
      nextTarget = redirect.to;
      closeReason = `redirected to ${redirect.to}`;
    });
    ws.on('error', (err: Error & { retryAfterMs?: number }) => {
      closeReason ||= err.message;
      errorCode ??= (err as Error & { code?: string }).code;
      if (err.retryAfterMs !== undefined) retryAfterMs = Math.min(MAX_RETRY_HINT_MS, err.retryAfterMs);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(welcomeTimer);
      this.watchdog?.stop();
      if (this.ws === ws) this.ws = undefined;
      if (this.stopped) return;
      // A ticket refused (expired, another cluster's): forgotten, and the same server asked again
      // at once with a signed hello. Not a failure of the server, so no backoff and no next server.
      if (resumed && code === CloseCodes.RESUME_REFUSED) {
        this.ticket = undefined;
        return this.connect(target);
      }
      closeReason ||= reason.toString() || `closed (${code})`;
      errorCode ??= errorCodeForClose(code);
      if (nextTarget && this.redirects < MAX_REDIRECTS) {
        this.redirects++;
        const to = nextTarget;
        if (nextDelayMs === 0) return this.connect(to);
        this.setStatus('waiting', { reason: closeReason, delayMs: nextDelayMs });
        this.retryTimer = setTimeout(() => this.connect(to), nextDelayMs);
        return;
      }
      this.redirects = 0;
      if (!welcomed) this.servers.failed();
      else this.servers.lost(this.server ?? target);
      // After failures, alternate between the primary and the secondary; a refusal that will not
      // change by retrying at once (bad key) still retries, but slowly, as the backoff grows.
      const next = this.servers.current();
      // A busy server (admission control) said when to come back: never sooner, later if our own
      // jittered backoff says so. The backoff grows when a round begins again at the primary; the
      // other servers of the round are tried at the same step.
      const backoffMs = next === this.servers.primary ? this.backoff.next() : this.backoff.again();
      const delayMs =
        retryAfterMs !== undefined
          ? Math.max(retryAfterMs, backoffMs)
          : code === CloseCodes.SHUTTING_DOWN
            ? Math.min(1000, backoffMs)
            : backoffMs;
      this.setStatus('waiting', { reason: closeReason, delayMs, retryAfterMs, code: errorCode });
      this.retryTimer = setTimeout(() => this.connect(next), delayMs);
    });
  }

  /**
   * The hello for this challenge: with a ticket's proof instead of a signature when the server
   * accepts our ticket; signed otherwise, and then asking for a ticket if the server issues them.
   */
  private hello(challenge: { nonce: string; resume?: string }): Record<string, unknown> {
    const { identity, policy } = this.options;
    const { nonce } = challenge;
    const hello = {
      type: 'hello',
      version: 1,
      id: identity.id,
      publicKey: identity.publicKey,
      name: this.options.name ?? hostname(),
      group: this.options.group ?? '',
      platform: this.options.platform ?? `${osPlatform()} ${release()}`,
      proof: keyProof(this.key, 'client', nonce, identity.id),
      allowForward: [...policy.allowForward],
      allowExec: policy.allowExec,
      heartbeatUpdates: true,
    };
    if (challenge.resume === undefined) return { ...hello, signature: identity.sign(nonce) };
    if (ticketUsable(this.ticket, challenge.resume, Date.now()))
      return { ...hello, resume: resumeProof(this.ticket, nonce, identity.id) };
    this.exchange ??= newExchangeKey();
    const ticketKey = this.exchange.publicKey;
    return { ...hello, signature: identity.sign(nonce, ticketKey), ticketKey };
  }

  /** A ticket the welcome sealed to our exchange key; one that does not open is not kept. */
  private takeTicket(issued: Parameters<typeof openTicket>[0]): void {
    if (!this.exchange) return;
    try {
      this.ticket = openTicket(issued, this.exchange.privateKey, this.options.identity.id, Date.now());
    } catch {
      this.ticket = undefined;
    }
  }

  /** A rotated key's new secret, sealed under the one we hold: kept, then proven from the next hello on. */
  private takeRotatedKey(msg: Parameters<typeof openKeyHandover>[0]): void {
    let secret: string;
    try {
      secret = openKeyHandover(msg, this.key, this.options.identity.id);
    } catch {
      this.emit('keyRotated', { key: msg.key, stored: false, error: 'the new secret did not open with our key' });
      return;
    }
    try {
      this.options.onKeyRotated?.(msg.key, secret);
    } catch (err) {
      // Not kept: used for as long as this process runs; after a restart the server hands it again (in the grace).
      this.key = secret;
      this.emit('keyRotated', { key: msg.key, stored: false, error: (err as Error).message });
      return;
    }
    this.key = secret;
    this.emit('keyRotated', { key: msg.key, stored: true });
  }

  /** How to dial `target`: the configured trust, plus the pin a trusted server vouched for it. */
  private dialFor(target: string): DialOptions {
    const { dial } = this.options;
    const vouched = this.vouched.get(target);
    if (!dial.tls || !vouched) return dial;
    return { ...dial, fingerprint: this.vouched.forAddress(dial.fingerprint, target) };
  }

  /**
   * No ping for 2.5 heartbeats: the server or the path is gone, even if TCP has not noticed. The
   * heartbeat policy (src/net/heartbeat.ts) judges once a heartbeat, and forgives a round in which
   * our own event loop stalled (the server's pings may be sitting unread).
   */
  private armWatchdog(): void {
    this.watchdog?.stop();
    this.watchdog = watchPeer(
      { intervalMs: this.heartbeatMs, missed: WATCHDOG_HEARTBEATS },
      { dead: () => this.ws?.terminate() },
    );
  }

  private async runSession(server: string, ticket: string, target: SessionTarget): Promise<void> {
    const max = this.options.maxSessions ?? MAX_CLIENT_SESSIONS;
    if (this.sessions >= max)
      return this.refuse(ticket, target, {
        code: ErrorCodes.TOO_MANY_SESSIONS,
        message: `this client runs at most ${max} sessions at once`,
      });
    const refusal = checkPolicy(this.options.policy, target);
    if (refusal) return this.refuse(ticket, target, refusal);
    this.sessions++;
    let counted = true;
    const release = () => {
      if (counted) this.sessions--;
      counted = false;
    };
    let prepared;
    try {
      prepared = await prepareSession(target, this.options.policy);
    } catch (err) {
      release();
      return this.refuse(ticket, target, toWireError(err));
    }
    try {
      const data = await openDataConnection(server, ticket, this.dialFor(server));
      data.once('close', release);
      prepared.attach(data);
      this.emit('session', { target });
    } catch (err) {
      release();
      prepared.abort();
      this.emit('session', { target, refused: (err as Error).message });
    }
  }

  private refuse(ticket: string, target: SessionTarget, error: { code: string; message: string }): void {
    this.ws?.send(JSON.stringify({ type: 'session-refused', ticket, error }));
    this.emit('session', { target, refused: error.message });
  }
}
