import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ErrorCodes, SwitchboardError, type WireError } from '../protocol/errors.js';
import type { SessionTarget, ServerToClient } from '../protocol/messages.js';
import { clientRefusal } from './clientRefusal.js';
import { MAX_SESSIONS_PER_CLIENT, type SessionSlot } from './sessionBudget.js';
import { splice } from '../net/splice.js';
import { TicketTable } from './tickets.js';

/** What the broker needs of a client connected to this server. */
export interface SessionPeer {
  id: string;
  send(message: ServerToClient): void;
}

export interface SessionMeta {
  clientId: string;
  clientName: string;
  /** The server the client is on. */
  server: string;
  operator: string;
  target: SessionTarget;
  /** What the session is for, when not its target's kind (a forward that carries a proxied web page is `web`). */
  kind?: string;
}

export interface ActiveSession extends SessionMeta {
  id: string;
  startedAt: Date;
}

export interface SessionClosed extends ActiveSession {
  bytesToClient: number;
  bytesFromClient: number;
  durationMs: number;
  error?: string;
}

interface PendingRequest {
  clientId: string;
  reject: (err: Error) => void;
}

type CountedStream = Duplex & { bytesRead?: number; bytesWritten?: number };

/**
 * Pairs the two data connections of a session. A session's far end (the client's own data
 * connection here, or a member's in a cluster) is obtained first; then the control is given a
 * ticket for its side, and the two are spliced. The broker never touches the bytes.
 */
export class Broker {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly sessions = new Map<string, ActiveSession>();
  private readonly aborts = new Map<string, () => void>();
  /** Sessions each client on this server holds: requested, offered or running. */
  private readonly perClient = new Map<string, number>();

  constructor(
    readonly tickets: TicketTable,
    private readonly onClosed: (session: SessionClosed) => void,
    private readonly maxPerClient = MAX_SESSIONS_PER_CLIENT,
  ) {}

  /**
   * Asks a client on this server to open a data connection for `target`. A client holds at most
   * `maxPerClient` sessions here, counted from the request until its data connection closes.
   */
  requestFromClient(client: SessionPeer, target: SessionTarget): Promise<Duplex> {
    const open = this.perClient.get(client.id) ?? 0;
    if (open >= this.maxPerClient) {
      return Promise.reject(
        new SwitchboardError(
          ErrorCodes.TOO_MANY_SESSIONS,
          `client ${client.id} has ${open} sessions open (at most ${this.maxPerClient})`,
        ),
      );
    }
    this.perClient.set(client.id, open + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const left = (this.perClient.get(client.id) ?? 1) - 1;
      if (left > 0) this.perClient.set(client.id, left);
      else this.perClient.delete(client.id);
    };
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        release();
        reject(err);
      };
      const ticket = this.tickets.issue(
        (socket) => {
          this.pending.delete(ticket);
          if (socket.closed) release();
          else socket.once('close', release);
          resolve(socket);
        },
        () => {
          this.pending.delete(ticket);
          fail(
            new SwitchboardError(ErrorCodes.SESSION_TIMEOUT, `client ${client.id} did not open the session in time`),
          );
        },
      );
      this.pending.set(ticket, { clientId: client.id, reject: fail });
      client.send({ type: 'session', ticket, target });
    });
  }

  /** The client said no (its policy, or its service refused): the control hears why, in the client's words. */
  clientRefused(clientId: string, ticket: string, error: WireError): void {
    const request = this.pending.get(ticket);
    if (!request || request.clientId !== clientId) return;
    this.tickets.cancel(ticket);
    this.pending.delete(ticket);
    request.reject(clientRefusal(error));
  }

  /** A member went away: the sessions relayed to its clients cannot go on. */
  serverGone(server: string): void {
    for (const session of this.sessions.values()) if (session.server === server) this.aborts.get(session.id)?.();
  }

  /**
   * The client went away: its unanswered requests fail now rather than at their timeout, and its
   * running sessions are torn down (its data connections may linger half-open after a crash).
   */
  clientGone(clientId: string): void {
    for (const session of this.sessions.values()) if (session.clientId === clientId) this.aborts.get(session.id)?.();
    for (const [ticket, request] of this.pending) {
      if (request.clientId !== clientId) continue;
      this.tickets.cancel(ticket);
      this.pending.delete(ticket);
      request.reject(new SwitchboardError(ErrorCodes.UNKNOWN_CLIENT, `client ${clientId} disconnected`));
    }
  }

  /**
   * Offers an open far end to whoever presents the returned ticket (the control, or the primary
   * in a cluster); the two are spliced when it does. Unclaimed, the far end is closed at expiry.
   * The caller's budget slot, if any, is claimed with the ticket and released when the far end closes.
   */
  offer(far: Duplex, meta: SessionMeta, slot?: SessionSlot): string {
    far.pause();
    far.on('error', () => far.destroy());
    if (slot) {
      if (far.closed) slot.release();
      else far.once('close', () => slot.release());
    }
    return this.tickets.issue(
      (near) => {
        slot?.claimed();
        this.run(far, near, meta);
      },
      () => far.destroy(),
    );
  }

  private run(far: CountedStream, near: CountedStream, meta: SessionMeta): void {
    const session: ActiveSession = { ...meta, id: randomUUID(), startedAt: new Date() };
    this.sessions.set(session.id, session);
    // The near end has already carried its HTTP upgrade (the request in, the 101 out), which is
    // not the session's; bytes that came with the request (put back, still unread) are.
    const readBefore = (near.bytesRead ?? 0) - near.readableLength;
    const writtenBefore = near.bytesWritten ?? 0;
    const abort = splice(near, far, (err) => {
      this.sessions.delete(session.id);
      this.aborts.delete(session.id);
      this.onClosed({
        ...session,
        bytesToClient: (near.bytesRead ?? 0) - readBefore,
        bytesFromClient: (near.bytesWritten ?? 0) - writtenBefore,
        durationMs: Date.now() - session.startedAt.getTime(),
        error: err?.message,
      });
    });
    if (this.sessions.has(session.id)) this.aborts.set(session.id, abort);
  }

  /**
   * A session whose far end the server reads itself (the REST API's exec, a bridge or proxy in the
   * server) rather than splicing to a control: counted among the active sessions, torn down with its
   * client or member, and reported closed, bytes and all, like a spliced one when the far end closes.
   */
  track(far: CountedStream, meta: SessionMeta): void {
    const session: ActiveSession = { ...meta, id: randomUUID(), startedAt: new Date() };
    // Bytes the far end carried before (its own HTTP upgrade) are not the session's.
    const readBefore = (far.bytesRead ?? 0) - far.readableLength;
    const writtenBefore = far.bytesWritten ?? 0;
    let error: string | undefined;
    const end = () => {
      if (!this.sessions.delete(session.id)) return;
      this.aborts.delete(session.id);
      this.onClosed({
        ...session,
        bytesToClient: (far.bytesWritten ?? 0) - writtenBefore,
        bytesFromClient: (far.bytesRead ?? 0) - readBefore,
        durationMs: Date.now() - session.startedAt.getTime(),
        error,
      });
    };
    if (far.closed) return;
    this.sessions.set(session.id, session);
    this.aborts.set(session.id, () => far.destroy());
    far.once('error', (err: Error) => (error = err.message));
    far.once('close', end);
  }

  active(): ActiveSession[] {
    return [...this.sessions.values()];
  }

  get activeCount(): number {
    return this.sessions.size;
  }

  close(): void {
    for (const request of this.pending.values())
      request.reject(new SwitchboardError(ErrorCodes.SHUTTING_DOWN, 'server is shutting down'));
    this.pending.clear();
    this.tickets.clear();
  }
}
