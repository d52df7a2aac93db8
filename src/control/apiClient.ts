import http from 'node:http';
import type { Duplex } from 'node:stream';
import { connectSocket, type DialOptions } from '../net/dial.js';
import { ErrorCodes, fromWireError, SwitchboardError } from '../protocol/errors.js';

export interface ApiLogin {
  operator: string;
  password: string;
  totp?: string;
}

/** What POST /login answers (the fields a caller keeps). */
export interface ApiSession {
  token: string;
  operator: string;
  role: string;
  expiresAt: string;
}

/** Answers bigger than this are refused: the API's answers are small JSON documents. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** An http.Agent whose sockets come from connectSocket (proxy, TLS, pinning), one per request. */
class SocketAgent extends http.Agent {
  constructor(
    private readonly target: string,
    private readonly dial: DialOptions,
  ) {
    super({ keepAlive: false });
  }

  override createConnection(
    _options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    connectSocket(this.target, this.dial).then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/**
 * A logged-in client of the REST API (/api/v1) on the acting primary, for scripts and the
 * `config --gateway` command. Errors come back as SwitchboardErrors with the server's code.
 */
export class ApiClient {
  private constructor(
    readonly gateway: string,
    private readonly dial: DialOptions,
    private token: string | undefined,
    readonly role: string,
  ) {}

  static async login(gateway: string, dial: DialOptions, login: ApiLogin): Promise<ApiClient> {
    const answer = await ApiClient.startSession(gateway, dial, login);
    return new ApiClient(gateway, dial, answer.token, answer.role);
  }

  /** Logs in and returns the session itself: its bearer token and when it expires unused. */
  static async startSession(gateway: string, dial: DialOptions, login: ApiLogin): Promise<ApiSession> {
    const anonymous = new ApiClient(gateway, dial, undefined, '');
    return (await anonymous.request('POST', '/login', {
      operator: login.operator,
      password: login.password,
      ...(login.totp ? { totp: login.totp } : {}),
    })) as ApiSession;
  }

  /** A client of a session started earlier (a token kept by `control login`). */
  static withToken(gateway: string, dial: DialOptions, token: string): ApiClient {
    return new ApiClient(gateway, dial, token, '');
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<unknown> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { Host: this.gateway, Accept: 'application/json' };
    if (text !== undefined)
      Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = http.request({
        agent: new SocketAgent(this.gateway, this.dial),
        method,
        path: `/api/v1${path}`,
        headers,
        timeout: timeoutMs,
      });
      req.once('timeout', () =>
        req.destroy(
          new SwitchboardError(ErrorCodes.UNREACHABLE, `${this.gateway} did not answer within ${timeoutMs} ms`),
        ),
      );
      req.once('error', (err) =>
        reject(
          err instanceof SwitchboardError
            ? err
            : new SwitchboardError(ErrorCodes.UNREACHABLE, `cannot reach ${this.gateway}: ${err.message}`),
        ),
      );
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES)
            return req.destroy(
              new SwitchboardError(ErrorCodes.MESSAGE_TOO_BIG, `${this.gateway} sent too large an answer`),
            );
          chunks.push(chunk);
        });
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          const raw = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = raw ? JSON.parse(raw) : undefined;
          } catch {
            return reject(
              new SwitchboardError(
                ErrorCodes.BAD_MESSAGE,
                `${this.gateway} answered ${status} with something that is not JSON (is it a Switchboard server?)`,
              ),
            );
          }
          if (status >= 200 && status < 300) return resolve(parsed);
          const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
          reject(
            fromWireError({ code: error?.code ?? '', message: error?.message ?? `${this.gateway} answered ${status}` }),
          );
        });
      });
      req.end(text);
    });
  }

  /** Ends the session on the server; errors are ignored, the token is forgotten either way. */
  async logout(): Promise<void> {
    if (!this.token) return;
    try {
      await this.request('POST', '/logout');
    } catch {
      /* the session expires on its own */
    }
    this.token = undefined;
  }
}
