import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../protocol/errors.js';
import type { FileBudget } from './fileBudget.js';
import type { Logger } from './logger.js';
import { ThrottledWarning } from './throttledWarning.js';

/** A full server's refusal: the client is to try another server of the cluster, or come back after this. */
export interface FullRefusal {
  code: typeof ErrorCodes.SERVER_FULL;
  message: string;
  retryAfterMs: number;
}

/** How long a refused client waits at least; spread over twice that so the refused do not return together. */
export const FULL_RETRY_MS = 5000;

/**
 * The client channels (`/v1/client` upgrades) a server holds, connected or still in their hello,
 * against its `max-clients`, and the sockets it accepts in all against its file budget
 * (fileBudget.ts).
 *
 * A client slot is taken before the WebSocket is made and given back when the socket closes,
 * whatever ends it. Past `max-clients` a client is refused before any WebSocket with
 * SB_ERR_SERVER_FULL and a retry time: the agent then backs off and tries the other server it knows
 * (src/client/agent.ts), and the sockets beyond `max-clients` stay free for controls, cluster links
 * and /metrics. Past the socket budget a connection is closed unanswered: better than the file limit
 * itself, where the server could not open its own files or links either.
 */
export class ClientCapacity {
  private held = 0;
  private readonly fullWarning: ThrottledWarning;
  private readonly socketWarning: ThrottledWarning;

  constructor(
    private readonly budget: FileBudget,
    logger: Logger,
    /** Counts a refusal in /metrics by reason. */
    private readonly count: (reason: 'server_full' | 'no_sockets') => void,
    private readonly random = Math.random,
  ) {
    this.fullWarning = new ThrottledWarning(logger, 'server full: clients refused and sent elsewhere (max-clients)');
    this.socketWarning = new ThrottledWarning(logger, 'connections closed unanswered: the file budget is spent');
  }

  get maxClients(): number {
    return this.budget.maxClients;
  }

  /** Client channels held now. */
  get inUse(): number {
    return this.held;
  }

  /** Whether the listener may accept one more socket, with `open` already open. */
  admitSocket(open: number): boolean {
    if (open < this.budget.maxSockets) return true;
    this.count('no_sockets');
    this.socketWarning.hit({ open, maxSockets: this.budget.maxSockets, fileLimit: this.budget.fileLimit });
    return false;
  }

  /** Takes a slot for this client socket (undefined), or says why not. */
  take(socket: Duplex): FullRefusal | undefined {
    const max = this.budget.maxClients;
    if (this.held >= max) {
      this.fullWarning.hit({ maxClients: max, held: this.held });
      const retryAfterMs = Math.round(FULL_RETRY_MS * (1 + this.random()));
      return {
        code: ErrorCodes.SERVER_FULL,
        message: `server full (max-clients ${max}): try another server of the cluster, or retry in ${retryAfterMs} ms`,
        retryAfterMs,
      };
    }
    this.held++;
    // 'close' comes once: `on` spares the wrapper `once` would keep per socket.
    socket.on('close', this.release);
    return undefined;
  }

  /** Shared by every socket rather than a closure each. */
  private readonly release = (): void => {
    this.held--;
  };
}
