import type WebSocket from 'ws';
import { CloseCodes, closeCodeName } from '../protocol/closeCodes.js';
import { ClientToServer, decode, type ClientHello, type ServerToClient } from '../protocol/messages.js';
import { idMatchesKey, verifyIdentity } from '../protocol/clientIdentity.js';
import { findProvenKey, newNonce } from '../protocol/proof.js';
import { sealKeyHandover } from '../protocol/keyHandover.js';
import { issueTicket, resumeRefusal, type IssuedTicket } from '../protocol/resumeTicket.js';
import type { DirectoryEntry } from './directory.js';
import type { ConnectedClient, ServerContext } from './context.js';
import { closeWith, remoteAddressOf, sendJson } from '../net/wsUtil.js';

/**
 * A client's control channel on this server: challenge, hello with a proof of its key, then
 * placement (welcome, or redirect elsewhere in the cluster), then session requests until it goes.
 */
export function handleClientConnection(
  ctx: ServerContext,
  ws: WebSocket,
  remote: { remoteAddress?: string; encrypted?: boolean },
): void {
  new ClientConnection(ctx, ws, remoteAddressOf(remote), remote.encrypted === true);
}

/**
 * The WebSocket's listeners are shared by every client connection and find theirs on the socket:
 * one property per connection instead of a closure per listener and the scope they keep.
 */
const kConnection = Symbol('clientConnection');
type ClientSocket = WebSocket & { [kConnection]: ClientConnection };

function onWsMessage(this: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
  (this as ClientSocket)[kConnection].onMessage(data, isBinary);
}

function onWsPong(this: WebSocket): void {
  (this as ClientSocket)[kConnection].lastSeen = Date.now();
}

function onWsClose(this: WebSocket): void {
  (this as ClientSocket)[kConnection].onClose();
}

/**
 * One client connection and, once its hello is accepted, the connected client the server keeps
 * (the same object). A server holds thousands of these for hours, so what each keeps is kept small
 * (docs/benchmarks.md, idle clients): one object with the state and its methods on the prototype,
 * the three shared listeners above, no logger of its own (the peer's fields are added to each line instead), and
 * nothing of the handshake (nonce, hello timer) once the hello is answered.
 */
class ClientConnection implements ConnectedClient {
  /** Set at the welcome, then by each pong (ConnectedClient.lastSeen). */
  lastSeen = 0;
  /**
   * Set when the hello is accepted, before the client is registered: every client in
   * `ctx.clients` has one. Undefined while the connection is still in its handshake.
   */
  entry!: DirectoryEntry;
  /** The key secret this client holds: after a rotation, the old one until it is handed the new. */
  keySecret = '';
  followsHeartbeat = false;
  private nonce: string | undefined = newNonce();
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServerContext,
    readonly ws: WebSocket,
    private readonly address: string,
    readonly secure: boolean,
  ) {
    // Judged after the next poll of the sockets, not in the timers phase: on a server running
    // behind (a failover's reconnect storm) the hello may have come and be waiting unread, and
    // closing then sends a client that did its part to the back of the queue.
    this.helloTimer = setTimeout(
      () => setImmediate(() => this.helloOverdue()),
      ctx.config.settings['hello-timeout'] * 1000,
    );
    sendJson(ws, {
      type: 'challenge',
      nonce: this.nonce,
      server: ctx.advertise,
      epoch: ctx.behaviour.epoch(),
      resume: ctx.resumeKeys.id,
    });
    (ws as ClientSocket)[kConnection] = this;
    ws.on('message', onWsMessage);
    ws.on('pong', onWsPong);
    ws.on('close', onWsClose);
  }

  get id(): string {
    return this.entry.id;
  }

  send(message: ServerToClient): void {
    sendJson(this.ws, message);
  }

  close(code: number, reason: string): void {
    closeWith(this.ws, code, reason);
  }

  private log(level: 'debug' | 'info' | 'warn', fields: object, msg: string): void {
    this.ctx.logger[level]({ peer: this.address, channel: 'client', ...fields }, msg);
  }

  private helloOverdue(): void {
    if (this.nonce === undefined || this.helloTimer === undefined) return;
    this.helloTimer = undefined;
    this.ctx.metrics.refusals.inc({ reason: 'hello_timeout' });
    this.log('warn', { code: 'SB_ERR_HELLO_TIMEOUT' }, 'client sent no hello in time');
    closeWith(this.ws, CloseCodes.HELLO_TIMEOUT, 'no hello in time');
  }

  private stopHelloTimer(): void {
    clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
  }

  onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary) return this.refuse(CloseCodes.BAD_MESSAGE, 'binary frames are not part of the protocol');
    const decoded = decode(ClientToServer, data);
    if (!decoded.ok) return this.refuse(CloseCodes.BAD_MESSAGE, `malformed message: ${decoded.error}`);
    const message = decoded.value;
    if (this.entry === undefined) {
      if (message.type !== 'hello' || this.nonce === undefined)
        return this.refuse(CloseCodes.BAD_MESSAGE, 'expected hello');
      return this.onHello(message, this.nonce);
    }
    if (message.type === 'session-refused') this.ctx.broker.clientRefused(this.entry.id, message.ticket, message.error);
    else this.refuse(CloseCodes.BAD_MESSAGE, `unexpected ${message.type}`);
  }

  onClose(): void {
    this.stopHelloTimer();
    const { entry, ctx } = this;
    if (entry === undefined) return;
    if (ctx.clients.get(entry.id) === this) {
      ctx.clients.delete(entry.id);
      ctx.broker.clientGone(entry.id);
      ctx.behaviour.clientDown(this);
      this.log('info', { client: entry.id, name: entry.name }, 'client down');
    }
  }

  private refuse(code: number, reason: string, client = this.entry?.id): void {
    this.ctx.metrics.refusals.inc({ reason: closeCodeName(code) });
    this.log('warn', { client, closeCode: code, reason }, 'client refused');
    closeWith(this.ws, code, reason);
  }

  /** Sends a rotated key's new secret, sealed under the one this client holds; it uses it from now on. */
  handOver(keyName: string, successor: string): void {
    sendJson(this.ws, sealKeyHandover(keyName, this.keySecret, successor, this.entry.id));
    this.keySecret = successor;
    this.log('info', { client: this.entry.id, keyName }, 'rotated key handed to the client');
  }

  /** A key not accepted: said plainly when it is a rotated key's retired secret. */
  private refuseKey(hello: ClientHello, nonce: string): void {
    const retired = findProvenKey(this.ctx.config.retiredKeys, 'client', nonce, hello.id, hello.proof);
    if (retired)
      return this.refuse(
        CloseCodes.KEY_ROTATED,
        `key ${retired.name} was rotated and this secret retired: give the client the key's new secret`,
        hello.id,
      );
    this.refuse(CloseCodes.BAD_KEY, 'key not accepted');
  }

  private refuseIdentity(id: string): void {
    this.refuse(
      CloseCodes.BAD_IDENTITY,
      `client ${id} did not prove its identity (id not derived from its key, or bad signature)`,
    );
  }

  private onHello(hello: ClientHello, nonce: string): void {
    const { ctx, ws } = this;
    this.stopHelloTimer();
    // One hello per connection: a second one is refused as unexpected, whatever it carries.
    this.nonce = undefined;
    // Cheap checks first (a hash, then the key proof's HMAC, which binds this nonce and id): they
    // are all a placement needs, so nothing counts a pending placement for a client without the key.
    if (!idMatchesKey(hello.id, hello.publicKey)) return this.refuseIdentity(hello.id);
    let key = findProvenKey(ctx.config.keys, 'client', nonce, hello.id, hello.proof);
    if (!key) {
      // Not refused for a key that `config --data` added a moment ago, before the next poll.
      ctx.config.check();
      key = findProvenKey(ctx.config.keys, 'client', nonce, hello.id, hello.proof);
    }
    if (!key) return this.refuseKey(hello, nonce);
    // One map lookup (device rules, replicated to every server): a revoked device gets nowhere.
    if (ctx.config.deviceRules.get(hello.id)?.revoked)
      return this.refuse(CloseCodes.DEVICE_REVOKED, `device ${hello.id} was revoked by an admin`, hello.id);
    const placement = ctx.behaviour.place(hello.id);
    if (!placement.keep) {
      // The identity signature (an Ed25519 verification: most of a hello's CPU) is checked by the
      // server that keeps the client, over its own nonce; checking it here too would prove nothing
      // more to that server. A forged identity gets a redirect, and is refused (and logged) there.
      ctx.metrics.redirected(placement.redirect, 'hello');
      sendJson(ws, {
        type: 'redirect',
        to: placement.redirect,
        reason: placement.reason,
        pin: ctx.pinOf(placement.redirect),
      });
      this.log('debug', { client: hello.id, to: placement.redirect }, 'client redirected');
      closeWith(ws, 1000, 'redirected');
      return;
    }
    // A resume ticket's HMAC stands for the signature of a client this cluster welcomed recently
    // (resumeTicket.ts): no Ed25519 verification when a lost server's clients all come back.
    if (hello.resume) {
      const why = resumeRefusal(ctx.resumeKeys, hello.id, hello.publicKey, hello.resume, nonce, Date.now());
      if (why !== undefined)
        return this.refuse(CloseCodes.RESUME_REFUSED, `resume ticket of ${hello.id} not accepted: ${why}`, hello.id);
    } else if (
      hello.signature === undefined ||
      !verifyIdentity(hello.id, hello.publicKey, hello.signature, nonce, hello.ticketKey)
    )
      return this.refuseIdentity(hello.id);
    ctx.metrics.placements.inc({ server: ctx.advertise });
    const existing = ctx.clients.get(hello.id);
    if (existing)
      return this.refuse(
        CloseCodes.DUPLICATE_CLIENT,
        `client id ${hello.id} is already connected from ${existing.entry.address}`,
      );
    this.entry = {
      id: hello.id,
      name: hello.name,
      group: hello.group,
      platform: hello.platform,
      address: this.address,
      server: ctx.advertise,
      connectedAt: new Date().toISOString(),
      key: key.name,
      allowExec: hello.allowExec,
      allowForward: hello.allowForward,
    };
    // Judged by the heartbeat from now on: its handshake may have taken longer than an interval,
    // and a client never pinged must not be found silent.
    this.lastSeen = Date.now();
    ctx.clients.set(hello.id, this);
    this.keySecret = key.value;
    this.followsHeartbeat = hello.heartbeatUpdates === true;
    sendJson(ws, {
      type: 'welcome',
      server: ctx.advertise,
      heartbeat: ctx.config.settings.heartbeat,
      cluster: ctx.clusterAddressesWithPins(),
      resume: this.ticketFor(hello),
    });
    // Back with a rotated key's old secret, in its grace: handed the new one at once.
    if (key.successor !== undefined) this.handOver(key.name, key.successor);
    ctx.behaviour.clientUp(this);
    this.log(
      'info',
      { client: hello.id, name: hello.name, keyName: key.name, resumed: hello.resume !== undefined },
      'client up',
    );
  }

  /** A resume ticket for a signed hello that asked for one (named the key to seal it to). */
  private ticketFor(hello: ClientHello): IssuedTicket | undefined {
    if (hello.resume || hello.ticketKey === undefined) return undefined;
    try {
      return issueTicket(this.ctx.resumeKeys, hello.id, hello.publicKey, hello.ticketKey, Date.now());
    } catch (err) {
      // Not an X25519 key we can agree with (a low-order point): the client goes without a ticket.
      this.log('debug', { client: hello.id, reason: (err as Error).message }, 'no resume ticket issued');
      return undefined;
    }
  }
}
