import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ErrorCodes, SwitchboardError, type WireError } from '../protocol/errors.js';
import type { SessionTarget, ServerToClient } from '../protocol/messages.js';
import { splice } from './splice.js';
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

  constructor(
    readonly tickets: TicketTable,
    private readonly onClosed: (session: SessionClosed) => void,
  ) {}

  /** Asks a client on this server to open a data connection for `target`. */
  requestFromClient(client: SessionPeer, target: SessionTarget): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const ticket = this.tickets.issue(
        (socket) => {
          this.pending.delete(ticket);
          resolve(socket);
        },
        () => {
          this.pending.delete(ticket);
          reject(new SwitchboardError(ErrorCodes.SESSION_TIMEOUT, `client ${client.id} did not open the session in time`));
        },
      );
      this.pending.set(ticket, { clientId: client.id, reject });
      client.send({ type: 'session', ticket, target });
    });
  }

  /** The client said no (its policy, or its service refused): the control hears why. */
  clientRefused(clientId: string, ticket: string, error: WireError): void {
    const request = this.pending.get(ticket);
    if (!request || request.clientId !== clientId) return;
    this.tickets.cancel(ticket);
    this.pending.delete(ticket);
    request.reject(new SwitchboardError(error.code as typeof ErrorCodes.POLICY_REFUSED, error.message));
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
   */
  offer(far: Duplex, meta: SessionMeta): string {
    far.pause();
    far.on('error', () => far.destroy());
    return this.tickets.issue(
      (near) => this.run(far, near, meta),
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

  active(): ActiveSession[] {
    return [...this.sessions.values()];
  }

  get activeCount(): number {
    return this.sessions.size;
  }

  close(): void {
    for (const request of this.pending.values()) request.reject(new SwitchboardError(ErrorCodes.SHUTTING_DOWN, 'server is shutting down'));
    this.pending.clear();
    this.tickets.clear();
  }
}
