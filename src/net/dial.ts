import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { ErrorCodes, fromWireError, SwitchboardError } from '../protocol/errors.js';
import { MAX_MESSAGE_BYTES } from '../protocol/messages.js';
import { parseHostPort } from './address.js';
import { parsePins, pinsMatch, spkiPin } from './pins.js';

/**
 * How a client, a control or a member reaches a server: optionally through an HTTP CONNECT proxy,
 * optionally in TLS verified by a CA or a pinned certificate fingerprint. Everything above this
 * module speaks plain `ws://` and HTTP; the agent below decides what the socket really is.
 */
export interface DialOptions {
  tls: boolean;
  /** PEM of the CA (or the self-signed certificate itself) to trust. */
  ca?: string | Buffer;
  /**
   * Pins (src/net/pins.ts), comma-separated: the certificate's SHA-256 fingerprint (hex) or its
   * public key's (`spki:sha256/BASE64`). Any one matching is enough.
   */
  fingerprint?: string;
  /** Encrypt but do not verify: for tests and first contact only. */
  insecure?: boolean;
  /** http://[user:pass@]host:port */
  proxy?: string;
  connectTimeoutMs?: number;
  /**
   * How long a server that took the connection may take to answer a WebSocket upgrade (default:
   * connectTimeoutMs). A server in a reconnect storm answers late but in order; a client that gives
   * up goes to the back of the queue and leaves the server a stale request to work through.
   */
  answerTimeoutMs?: number;
  /**
   * TLS 1.3 or nothing. The cluster link binds its proofs to the TLS session's exported keying
   * material, which only TLS 1.3 (or 1.2 with the extended master secret, which Node cannot
   * require) ties to one session.
   */
  tls13Only?: boolean;
  /**
   * The local address to dial from (the proxy's connection, when there is one). A load generator
   * gives each of its processes its own: one address holds only ~28,000 connections to one server
   * port (the ephemeral range), and well before that the kernel's search for a free port makes every
   * connect slow (0.7 ms of system time at 14,000: docs/benchmarks.md).
   */
  localAddress?: string;
}

export const plainDial: DialOptions = { tls: false };

export function normalizeFingerprint(text: string): string {
  return text.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

function withTimeout<T extends Duplex>(socket: T, ms: number, what: string, fail: (err: Error) => void): () => void {
  const timer = setTimeout(() => {
    fail(new SwitchboardError(ErrorCodes.UNREACHABLE, `${what}: no answer within ${ms} ms`));
    socket.destroy();
  }, ms);
  return () => clearTimeout(timer);
}

/** Opens a TCP tunnel through an HTTP CONNECT proxy. */
function connectViaProxy(
  proxyUrl: string,
  host: string,
  port: number,
  timeoutMs: number,
  localAddress?: string,
): Promise<net.Socket> {
  const proxy = new URL(proxyUrl);
  if (proxy.protocol !== 'http:')
    throw new SwitchboardError(ErrorCodes.PROXY_FAILED, `unsupported proxy scheme ${proxy.protocol} (use http://)`);
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { Host: target };
  if (proxy.username) {
    const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['Proxy-Authorization'] = `Basic ${Buffer.from(creds).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.hostname,
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: target,
      headers,
      agent: false,
      localAddress,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(
        new SwitchboardError(ErrorCodes.PROXY_FAILED, `proxy ${proxy.host} did not answer within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    req.once('connect', (res, socket, head) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(
          new SwitchboardError(
            ErrorCodes.PROXY_FAILED,
            `proxy ${proxy.host} refused CONNECT to ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim(),
          ),
        );
        return;
      }
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(new SwitchboardError(ErrorCodes.PROXY_FAILED, `proxy ${proxy.host}: ${err.message}`));
    });
    req.end();
  });
}

function connectTcp(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress, allowHalfOpen: true });
    socket.setNoDelay(true);
    const clear = withTimeout(socket, timeoutMs, `connect to ${host}:${port}`, reject);
    socket.once('connect', () => {
      clear();
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clear();
      reject(new SwitchboardError(ErrorCodes.UNREACHABLE, `cannot reach ${host}:${port}: ${err.message}`));
    };
    socket.once('error', onError);
  });
}

function startTls(
  raw: net.Socket,
  host: string,
  port: number,
  opts: DialOptions,
  timeoutMs: number,
): Promise<tls.TLSSocket> {
  let pinned: ReturnType<typeof parsePins> | undefined;
  try {
    pinned = opts.fingerprint ? parsePins(opts.fingerprint) : undefined;
  } catch (err) {
    raw.destroy();
    return Promise.reject(err as Error);
  }
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      socket: raw,
      servername: net.isIP(host) ? undefined : host,
      ca: opts.ca,
      minVersion: opts.tls13Only ? 'TLSv1.3' : undefined,
      // A pinned fingerprint replaces the CA check; it is checked below, before any byte is sent.
      rejectUnauthorized: !opts.insecure && !pinned,
      // Never undefined: tls.connect asserts it is a function. The name checked is the host dialled.
      checkServerIdentity: pinned ? () => undefined : (_h, cert) => tls.checkServerIdentity(host, cert),
    });
    const clear = withTimeout(socket, timeoutMs, `TLS handshake with ${host}`, reject);
    socket.once('secureConnect', () => {
      clear();
      socket.removeListener('error', onError);
      if (pinned) {
        const peer = socket.getPeerCertificate();
        if (!peer.raw || !pinsMatch(pinned, peer.raw)) {
          socket.destroy();
          const presented = peer.raw ? `fingerprint ${peer.fingerprint256}, key ${spkiPin(peer.raw)}` : 'none';
          reject(
            new SwitchboardError(
              ErrorCodes.TLS_MISMATCH,
              `the certificate of ${host}:${port} (${presented}) does not match the pinned ${opts.fingerprint}`,
            ),
          );
          return;
        }
      }
      resolve(socket);
    });
    const onError = (err: Error & { code?: string }) => {
      clear();
      const hint =
        err.code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
        err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
        err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
          ? ' (pass --ca FILE or --tls-fingerprint SHA256 to trust this server)'
          : err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || err.code === 'ECONNRESET'
            ? ' (is the server speaking TLS on this port?)'
            : '';
      reject(new SwitchboardError(ErrorCodes.TLS_MISMATCH, `TLS with ${host} failed: ${err.message}${hint}`));
    };
    socket.once('error', onError);
  });
}

/**
 * Connects a raw socket to a server: proxy, TCP, TLS, as the options say. The socket allows
 * half-close, so a session can carry EOF one way while bytes still flow the other.
 */
export async function connectSocket(hostPort: string, opts: DialOptions): Promise<net.Socket> {
  const { host, port } = parseHostPort(hostPort);
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  const raw = opts.proxy
    ? await connectViaProxy(opts.proxy, host, port, timeoutMs, opts.localAddress)
    : await connectTcp(host, port, timeoutMs, opts.localAddress);
  raw.allowHalfOpen = true;
  if (!opts.tls) return raw;
  const secure = await startTls(raw, host, port, opts, timeoutMs);
  secure.allowHalfOpen = true;
  return secure;
}

type CreateConnection = NonNullable<http.ClientRequestArgs['createConnection']>;

/**
 * http.request's `createConnection`: the request's socket comes from connectSocket. No Agent: a
 * dial is one socket, never pooled, and an Agent per dial (one object and its bookkeeping per
 * client connection) costs a placement burst CPU for nothing.
 */
function dialer(target: string, opts: DialOptions): CreateConnection {
  return (options, oncreate) => {
    connectSocket(target, opts).then(
      (socket) => {
        // The request's `timeout` (ws's handshake timeout, postJson's deadline) is armed on the
        // socket by whoever makes it: net.createConnection or an Agent would, so must this.
        if (options.timeout) socket.setTimeout(options.timeout);
        oncreate(null, socket);
      },
      (err: Error) => oncreate(err, undefined as unknown as Duplex),
    );
    return undefined;
  };
}

/**
 * A server that placed the client elsewhere on its upgrade request (an HTTP 307, see
 * protocol/placementRequest.ts) is an answer, not a failure: the socket emits this event with
 * where to go, instead of an error, and then closes.
 */
export const REDIRECT_EVENT = 'redirect';
export interface UpgradeRedirect {
  to: string;
  reason: string;
  /** The pin of the server redirected to, vouched for by the server that redirects (src/net/pins.ts). */
  pin?: string;
}

/**
 * Opens a WebSocket. `maxPayload` bounds what the server may send: small for clients, large for
 * controls and members, which receive whole directories and configuration snapshots.
 */
export function openWebSocket(
  hostPort: string,
  path: string,
  opts: DialOptions,
  headers: Record<string, string> = {},
  maxPayload = MAX_MESSAGE_BYTES,
): WebSocket {
  const ws = new WebSocket(`ws://${hostPort}${path}`, {
    // ws's own type for this option is net.createConnection's; it passes it to http.request as is.
    createConnection: dialer(hostPort, opts) as unknown as typeof net.createConnection,
    maxPayload,
    handshakeTimeout: opts.answerTimeoutMs ?? opts.connectTimeoutMs ?? 10_000,
    perMessageDeflate: false,
    headers,
  });
  // A refusal before the upgrade (403 require-tls, 404, ...) carries a JSON error: report its
  // message and code rather than ws's bare "Unexpected server response: 403".
  ws.once('unexpected-response', (_req, res) => {
    let body = '';
    let done = false;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk.slice(0, 1024)));
    const finish = () => {
      if (done) return;
      done = true;
      if (ws.readyState !== WebSocket.CONNECTING) return;
      let err = new SwitchboardError(
        ErrorCodes.UNREACHABLE,
        `${hostPort} refused the connection: ${res.statusCode} ${res.statusMessage ?? ''}`.trim(),
      );
      try {
        const parsed = JSON.parse(body) as {
          error?: { code?: string; message?: string; retryAfterMs?: unknown };
          redirect?: { to?: unknown; reason?: unknown; pin?: unknown };
        };
        const to = parsed.redirect?.to;
        if (res.statusCode === 307 && typeof to === 'string' && !parsed.error) {
          const reason = typeof parsed.redirect?.reason === 'string' ? parsed.redirect.reason : '';
          const pin = typeof parsed.redirect?.pin === 'string' ? parsed.redirect.pin.slice(0, 1024) : undefined;
          ws.emit(REDIRECT_EVENT, { to, reason, ...(pin ? { pin } : {}) } satisfies UpgradeRedirect);
          ws.terminate();
          return;
        }
        if (parsed.error?.message)
          err = fromWireError(
            { code: parsed.error.code ?? '', message: `${hostPort} refused the connection: ${parsed.error.message}` },
            ErrorCodes.UNREACHABLE,
          );
        const hint = parsed.error?.retryAfterMs;
        if (typeof hint === 'number' && Number.isFinite(hint) && hint >= 0) err.retryAfterMs = hint;
      } catch {
        /* not JSON: keep the status line */
      }
      // Retry-After in seconds, from a server (or a proxy) that does not send the exact hint.
      const header = Number(res.headers['retry-after']);
      if (err.retryAfterMs === undefined && Number.isFinite(header) && header >= 0) err.retryAfterMs = header * 1000;
      ws.emit('error', err);
      ws.terminate();
    };
    res.once('end', finish);
    res.once('close', finish);
    res.once('error', finish);
  });
  return ws;
}

export const SESSION_UPGRADE = 'switchboard-session';

/**
 * Opens a session data connection: an HTTP upgrade to a raw byte stream, authorised by a ticket.
 * Resolves with the socket once the server has answered 101.
 */
export function openDataConnection(
  hostPort: string,
  ticket: string,
  opts: DialOptions,
  headers: Record<string, string> = {},
): Promise<Duplex> {
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: dialer(hostPort, opts),
      path: `/v1/session/${encodeURIComponent(ticket)}`,
      headers: { Connection: 'Upgrade', Upgrade: SESSION_UPGRADE, Host: hostPort, ...headers },
      // A hung peer accepts the TCP connection and never answers: without a deadline the dial,
      // and its socket, would wait for as long as the peer stays hung.
      timeout: timeoutMs,
    });
    req.once('timeout', () =>
      req.destroy(
        new SwitchboardError(
          ErrorCodes.UNREACHABLE,
          `${hostPort} did not answer the data connection within ${timeoutMs} ms`,
        ),
      ),
    );
    req.once('upgrade', (_res, socket, head) => {
      // The deadline was for the answer: a session's socket keeps no idle timer (quiet is not dead).
      socket.setTimeout(0);
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk.slice(0, 1024)));
      res.once('end', () => {
        let message = `${res.statusCode} ${res.statusMessage ?? ''}`;
        let code: string = ErrorCodes.BAD_TICKET;
        try {
          const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
          if (parsed.error?.message) message = parsed.error.message;
          if (parsed.error?.code) code = parsed.error.code;
        } catch {
          /* not JSON: keep the status line */
        }
        reject(fromWireError({ code, message: `data connection refused: ${message}` }, ErrorCodes.BAD_TICKET));
      });
    });
    req.once('error', reject);
    req.end();
  });
}

/** One JSON request/response over the same dialling rules (proxy, TLS, pinning). */
export function postJson(
  hostPort: string,
  path: string,
  body: unknown,
  opts: DialOptions,
  timeoutMs = 5000,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request({
      createConnection: dialer(hostPort, {
        ...opts,
        connectTimeoutMs: Math.min(timeoutMs, opts.connectTimeoutMs ?? timeoutMs),
      }),
      method: 'POST',
      path,
      headers: { Host: hostPort, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
      timeout: timeoutMs,
    });
    req.once('timeout', () =>
      req.destroy(new SwitchboardError(ErrorCodes.UNREACHABLE, `${hostPort} did not answer within ${timeoutMs} ms`)),
    );
    req.once('error', reject);
    req.once('response', (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        data += chunk;
        if (data.length > 4 * 1024 * 1024)
          req.destroy(new SwitchboardError(ErrorCodes.MESSAGE_TOO_BIG, `${hostPort} sent too large a reply`));
      });
      res.once('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as unknown });
        } catch {
          reject(new SwitchboardError(ErrorCodes.BAD_MESSAGE, `${hostPort} sent a reply that is not JSON`));
        }
      });
    });
    req.end(text);
  });
}
