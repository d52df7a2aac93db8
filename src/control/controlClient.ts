import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import { errorCodeForClose } from '../protocol/closeCodes.js';
import { ErrorCodes, fromWireError, SwitchboardError } from '../protocol/errors.js';
import {
  decode,
  MAX_BULK_MESSAGE_BYTES,
  ServerToControl,
  type BrowsePage,
  type ClientInfo,
  type ServerInfo,
  type SessionTarget,
} from '../protocol/messages.js';
import { keyProof } from '../protocol/proof.js';

export interface BrowsePageParams {
  limit: number;
  cursor?: string;
  group?: string;
  filter?: string;
  state?: string;
}
import { openDataConnection, openWebSocket, type DialOptions } from '../net/dial.js';
import { ServerList } from '../net/serverList.js';
import type { VouchedPins } from '../net/pins.js';

export interface ControlOptions {
  gateway: string;
  secondary?: string;
  key: string;
  operator?: string;
  password?: string;
  totp?: string;
  /** Instead of password and TOTP: an API session token kept by `control login`. */
  token?: string;
  dial: DialOptions;
  /**
   * Pins the servers we logged in to vouched for (the secondary's, the primary's): kept across
   * reconnections, so a control pinned to the primary alone fails over to the secondary.
   */
  vouched?: VouchedPins;
}

/** How to dial `target`: the configured trust, plus the pin a trusted server vouched for it. */
function dialFor(options: ControlOptions, target: string): DialOptions {
  if (!options.dial.tls || !options.vouched?.get(target)) return options.dial;
  return { ...options.dial, fingerprint: options.vouched.forAddress(options.dial.fingerprint, target) };
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * The control SDK: one logged-in channel to the acting primary, with browse, servers and open.
 * `connect` tries the gateway, then the secondary, and says clearly why neither answered.
 */
export class ControlClient {
  private nextReq = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | undefined;
  private readonly closeListeners: ((err: Error) => void)[] = [];
  /** When the session token this control logged in with expires unused (ISO time), if it used one. */
  tokenExpiresAt: string | undefined;

  private constructor(
    private readonly ws: WebSocket,
    /** The address this control dialled (the gateway or the secondary): data connections go there too. */
    readonly target: string,
    /** The server's own advertised address. */
    readonly server: string,
    private readonly options: ControlOptions,
  ) {
    ws.on('message', (data) => {
      const decoded = decode(ServerToControl, data, MAX_BULK_MESSAGE_BYTES);
      if (!decoded.ok || decoded.value.type !== 'response') return;
      const { req, result, error } = decoded.value;
      const waiter = this.pending.get(req);
      if (!waiter) return;
      this.pending.delete(req);
      if (error) waiter.reject(fromWireError(error));
      else waiter.resolve(result);
    });
    ws.on('close', (code, reason) => {
      this.closedError = new SwitchboardError(
        errorCodeForClose(code) ?? ErrorCodes.UNREACHABLE,
        `connection to ${target} closed: ${reason.toString() || code}`,
      );
      for (const waiter of this.pending.values()) waiter.reject(this.closedError);
      this.pending.clear();
      for (const listener of this.closeListeners.splice(0)) listener(this.closedError);
    });
  }

  static async connect(options: ControlOptions): Promise<ControlClient> {
    const targets = new ServerList(options.gateway, options.secondary).all();
    const errors: Error[] = [];
    for (const target of targets) {
      try {
        return await ControlClient.connectTo(target, options);
      } catch (err) {
        errors.push(err as Error);
        const code = (err as SwitchboardError).code;
        // Credentials that one server refused, the other would refuse too.
        if (
          code === ErrorCodes.BAD_KEY ||
          code === ErrorCodes.BAD_LOGIN ||
          code === ErrorCodes.LOCKED_OUT ||
          code === ErrorCodes.FORBIDDEN ||
          code === ErrorCodes.LOGIN_REQUIRED
        )
          throw err;
      }
    }
    if (errors.length === 1) throw errors[0];
    throw new SwitchboardError(
      (errors.at(-1) as SwitchboardError).code ?? ErrorCodes.UNREACHABLE,
      errors.map((e) => e.message).join('; '),
    );
  }

  private static connectTo(target: string, options: ControlOptions): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const ws = openWebSocket(target, '/v1/control', dialFor(options, target), {}, MAX_BULK_MESSAGE_BYTES);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(err);
      };
      ws.on('error', (err) =>
        fail(
          err instanceof SwitchboardError
            ? err
            : new SwitchboardError(ErrorCodes.UNREACHABLE, `cannot reach ${target}: ${err.message}`),
        ),
      );
      ws.on('close', (code, reason) =>
        fail(
          new SwitchboardError(
            errorCodeForClose(code) ?? ErrorCodes.UNREACHABLE,
            `${target} refused the control: ${reason.toString() || `closed (${code})`}`,
          ),
        ),
      );
      ws.on('message', function onMessage(data) {
        const decoded = decode(ServerToControl, data);
        if (!decoded.ok)
          return fail(new SwitchboardError(ErrorCodes.BAD_MESSAGE, `bad message from ${target}: ${decoded.error}`));
        const msg = decoded.value;
        if (msg.type === 'challenge') {
          ws.send(
            JSON.stringify({
              type: 'login',
              version: 1,
              proof: keyProof(options.key, 'control', msg.nonce, options.operator ?? ''),
              operator: options.operator,
              password: options.password,
              totp: options.totp,
              token: options.token,
            }),
          );
        } else if (msg.type === 'ready') {
          settled = true;
          ws.off('message', onMessage);
          ws.removeAllListeners('close');
          ws.removeAllListeners('error');
          ws.on('error', () => undefined);
          options.vouched?.learnAll(msg.pins);
          const client = new ControlClient(ws, target, msg.server, options);
          client.tokenExpiresAt = msg.expiresAt;
          resolve(client);
        }
      });
    });
  }

  /** True once the channel to the server has closed: every request fails from then on. */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Calls `listener` once when the channel closes, with why (its code says whether to dial again). */
  onClosed(listener: (err: Error) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  private request<T>(method: string, params: object = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const req = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(req, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ type: 'request', req, method, params }));
    });
  }

  /**
   * Every matching client in one answer (no paging: what controls before paging asked for). With
   * `all`, offline devices follow the online clients, each with `state: 'offline'` and `lastSeen`.
   */
  browse(
    params: { group?: string; filter?: string; state?: string; all?: boolean } = {},
  ): Promise<(ClientInfo & { state?: 'offline'; lastSeen?: string })[]> {
    return this.request('browse', params);
  }

  /**
   * One page of at most `limit` clients after `cursor` (the `next` of the previous page). A server
   * from before paging ignores the limit and answers everything: that is then the one page.
   */
  async browsePage(params: BrowsePageParams): Promise<BrowsePage> {
    const answer = await this.request<ClientInfo[] | BrowsePage>('browse', params);
    return Array.isArray(answer) ? { clients: answer } : answer;
  }

  /** Every matching client, page after page, each page as it comes (a fleet need not fit one message). */
  async *browsePages(params: Omit<BrowsePageParams, 'cursor'>): AsyncGenerator<ClientInfo[]> {
    let cursor: string | undefined;
    do {
      const page = await this.browsePage({ ...params, cursor });
      yield page.clients;
      cursor = page.next;
    } while (cursor !== undefined);
  }

  servers(): Promise<ServerInfo[]> {
    return this.request('servers');
  }

  /** Opens a session and returns its byte stream, spliced through the cluster to the client. */
  async open(client: string, target: SessionTarget): Promise<Duplex> {
    const { ticket } = await this.request<{ ticket: string }>('open', { client, target });
    return openDataConnection(this.target, ticket, dialFor(this.options, this.target));
  }

  close(): void {
    this.ws.close(1000, 'bye');
  }
}
