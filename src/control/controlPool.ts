import type { Duplex } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { SessionTarget } from '../protocol/messages.js';
import type { SessionOpener } from './reconnectingControl.js';

/**
 * Sessions one control connection may hold at once: the server's per-control budget
 * (CONTROL_SESSION_LIMITS.open in src/server/sessionBudget.ts, which this layer may not import).
 */
export const SESSIONS_PER_CONTROL = 64;

/**
 * Control connections one forward opens at most. Four of 64 make 256, what one client holds at once
 * (MAX_SESSIONS_PER_CLIENT): more would only be refused by the client's server. The server's other
 * bounds still hold over all of them: forward sessions per operator (or per key without operators),
 * connections per address. docs/security.md weighs it.
 */
export const MAX_CONTROLS_PER_FORWARD = 4;

/**
 * How long a connection past the cap waits for a session to end before it is refused: a session
 * closed just now is seen to end a moment later, so closing some and opening others is not refused.
 */
export const FULL_WAIT_MS = 2_000;

/** An extra control connection with no session left is closed after this long (a burst may come back). */
export const IDLE_CONTROL_MS = 30_000;

/** A session refused because its control is full by the server's count, not ours: asked this often, waiting longer each time (2.25 s in all). */
const FULL_RETRIES = 10;
const FULL_RETRY_MS = 50;

/** Refusals of a login that dialling again with the same credentials cannot cure. */
const REFUSED_FOR_GOOD = new Set<string>([
  ErrorCodes.BAD_KEY,
  ErrorCodes.BAD_LOGIN,
  ErrorCodes.LOGIN_REQUIRED,
  ErrorCodes.LOCKED_OUT,
  ErrorCodes.FORBIDDEN,
  ErrorCodes.OPERATOR_REVOKED,
]);

/** One control connection of the pool, and the sessions it holds by our count. */
interface Lane {
  control: SessionOpener & { close(): void };
  held: number;
  /** Set once the lane is of no use (refused for good, or closed while idle): it takes no new session. */
  retired: boolean;
  idleTimer?: NodeJS.Timeout;
}

export interface ControlPoolOptions {
  /** Controls the pool may hold at once (the first included). */
  maxControls?: number;
  perControl?: number;
  idleMs?: number;
  /** How long a session waits at the cap for another to end before it is refused. */
  fullWaitMs?: number;
  /**
   * Why no extra control may be dialled, if one may not: a login by TOTP code (each code logs in
   * once; a second login with it is refused and counts toward the operator's lockout).
   */
  noExtraBecause?: string;
}

/**
 * The control connections behind one `control forward`: the first, and more when it holds a
 * control's budget of sessions, up to a cap, so that one forward carries as many connections at
 * once as its client takes. A session goes to the connection holding the fewest; one that a server
 * refuses because that connection is full (our count can run ahead of the server's, which frees a
 * place only once the client's end has closed) is asked again shortly. Extra connections
 * dial the same way as the first (`dial`) and close once idle. The first connection's refusal for
 * good (the operator revoked) is the forward's end, as before; an extra one's only retires it.
 */
export class ControlPool implements SessionOpener {
  private readonly lanes: Lane[];
  private maxControls: number;
  /** Why no more controls are dialled, once a dial was refused for a reason a retry cannot cure. */
  private noExtraBecause: string | undefined;
  private readonly perControl: number;
  private readonly idleMs: number;
  private readonly fullWaitMs: number;
  /** Sessions waiting at the cap for one to end. */
  private readonly roomWaiters: (() => void)[] = [];
  /** One dial at a time: sessions that need a new control meanwhile wait for it. */
  private dialing: Promise<Lane> | undefined;

  constructor(
    first: SessionOpener & { close(): void },
    private readonly dial: (onFinal: (err: Error) => void) => Promise<SessionOpener & { close(): void }>,
    options: ControlPoolOptions = {},
  ) {
    this.lanes = [{ control: first, held: 0, retired: false }];
    this.noExtraBecause = options.noExtraBecause;
    this.maxControls = options.noExtraBecause ? 1 : (options.maxControls ?? MAX_CONTROLS_PER_FORWARD);
    this.perControl = options.perControl ?? SESSIONS_PER_CONTROL;
    this.idleMs = options.idleMs ?? IDLE_CONTROL_MS;
    this.fullWaitMs = options.fullWaitMs ?? FULL_WAIT_MS;
  }

  /** Control connections open now (the first included). */
  get controls(): number {
    return this.lanes.filter((l) => !l.retired).length;
  }

  /** Sessions held now, over every control. */
  get held(): number {
    return this.lanes.reduce((n, l) => n + l.held, 0);
  }

  async open(client: string, target: SessionTarget): Promise<Duplex> {
    for (let attempt = 1; ; attempt++) {
      const lane = await this.laneWithRoom();
      try {
        return await this.openOn(lane, client, target);
      } catch (err) {
        // Our count ran ahead of the server's: it frees a session's place once the client's end has
        // closed, a moment after ours. Asked again shortly, of the control then holding the fewest.
        if (!this.controlFull(err) || attempt >= FULL_RETRIES) throw err;
        await new Promise((resolve) => setTimeout(resolve, FULL_RETRY_MS * attempt));
      }
    }
  }

  private controlFull(err: unknown): boolean {
    const e = err as SwitchboardError;
    return e.code === ErrorCodes.TOO_MANY_SESSIONS && /^this control has/.test(e.message);
  }

  private async openOn(lane: Lane, client: string, target: SessionTarget): Promise<Duplex> {
    this.hold(lane);
    let stream: Duplex;
    try {
      stream = await lane.control.open(client, target);
    } catch (err) {
      this.release(lane);
      throw err;
    }
    if (stream.closed || stream.destroyed) this.release(lane);
    else stream.once('close', () => this.release(lane));
    return stream;
  }

  private hold(lane: Lane): void {
    lane.held++;
    clearTimeout(lane.idleTimer);
    lane.idleTimer = undefined;
  }

  private roomOrTimeout(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      // Gone from the list when it times out: a flood past the cap leaves nothing behind.
      const timer = setTimeout(
        () => {
          const at = this.roomWaiters.indexOf(wake);
          if (at >= 0) this.roomWaiters.splice(at, 1);
          resolve();
        },
        Math.max(0, ms),
      );
      this.roomWaiters.push(wake);
    });
  }

  private release(lane: Lane): void {
    lane.held--;
    for (const wake of this.roomWaiters.splice(0)) wake();
    if (lane.held > 0 || lane === this.lanes[0] || lane.retired) return;
    lane.idleTimer = setTimeout(() => this.retire(lane), this.idleMs);
    lane.idleTimer.unref();
  }

  private retire(lane: Lane): void {
    if (lane.retired) return;
    lane.retired = true;
    clearTimeout(lane.idleTimer);
    if (lane.held === 0) lane.control.close();
    const at = this.lanes.indexOf(lane);
    if (at > 0) this.lanes.splice(at, 1);
  }

  /** The control with the fewest sessions, if it has room; else a new one, if the cap allows. */
  private async laneWithRoom(): Promise<Lane> {
    let waitedSince: number | undefined;
    for (;;) {
      const open = this.lanes.filter((l) => !l.retired);
      const emptiest = open.reduce<Lane | undefined>((a, l) => (a && a.held <= l.held ? a : l), undefined);
      if (emptiest && emptiest.held < this.perControl) return emptiest;
      if (this.dialing) {
        await this.dialing.catch(() => undefined);
        continue;
      }
      if (this.lanes.length >= this.maxControls) {
        // At the cap: a session that ends in a moment (closed locally, its end not yet seen) makes room.
        waitedSince ??= Date.now();
        if (Date.now() - waitedSince >= this.fullWaitMs) throw this.full();
        await this.roomOrTimeout(waitedSince + this.fullWaitMs - Date.now());
        continue;
      }
      this.dialing = this.extraLane().finally(() => (this.dialing = undefined));
      return this.dialing;
    }
  }

  private async extraLane(): Promise<Lane> {
    // Refused for good, an extra control takes no more sessions; the first one's refusal ends the forward.
    const refused: { lane?: Lane; err?: Error } = {};
    let control: SessionOpener & { close(): void };
    try {
      control = await this.dial((err) => {
        refused.err = err;
        if (refused.lane) this.retire(refused.lane);
      });
    } catch (err) {
      const code = (err as SwitchboardError).code ?? ErrorCodes.UNREACHABLE;
      // Credentials refused: dialling again would only add failed logins toward the operator's lockout.
      if (REFUSED_FOR_GOOD.has(code)) {
        this.maxControls = Math.max(1, this.lanes.length);
        this.noExtraBecause = `another control connection was refused: ${(err as Error).message}`;
      }
      throw new SwitchboardError(
        code,
        `this forward holds ${this.held} sessions, all its ${this.controls} control connection(s) can, and another could not be opened: ${(err as Error).message}`,
      );
    }
    const lane: Lane = (refused.lane = { control, held: 0, retired: false });
    this.lanes.push(lane);
    if (refused.err) this.retire(lane);
    return lane;
  }

  private full(): SwitchboardError {
    const most = this.maxControls * this.perControl;
    const how = `${this.maxControls === 1 ? 'one control connection' : `${this.maxControls} control connections of ${this.perControl} each`}${this.noExtraBecause ? `: ${this.noExtraBecause}` : ''}`;
    return new SwitchboardError(
      ErrorCodes.TOO_MANY_SESSIONS,
      `this forward holds ${this.held} sessions at once, its most (${most}, ${how}); close some first`,
    );
  }

  close(): void {
    for (const lane of this.lanes.splice(0)) {
      clearTimeout(lane.idleTimer);
      lane.control.close();
    }
  }
}
