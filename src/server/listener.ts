import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../protocol/errors.js';
import { answerRaw } from './rawHttp.js';
import type { TlsMaterial } from './tlsFiles.js';

export interface ListenerHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Counts a new connection in by remote address; false closes it at once. */
  admit(address: string): boolean;
  release(address: string): void;
}

/** Text, as a request is (the chunk that failed may start anywhere in it); binary junk is not. */
function looksLikeHttp(raw: unknown): boolean {
  return (
    Buffer.isBuffer(raw) &&
    raw.length > 0 &&
    raw.subarray(0, 64).every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)
  );
}

/**
 * The 'error' listener of every accepted socket: one function shared by all of them (a server
 * holds thousands of idle sockets; a closure per socket is memory per client for nothing).
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

export interface Listener {
  address: net.AddressInfo;
  close(): Promise<void>;
  /** Sockets currently open, plain or TLS: for shutdown and leak checks. */
  openSockets(): number;
  /**
   * Serves another certificate to every connection from now on; connections already open keep
   * theirs (their TLS sessions are not touched), so a renewal disconnects no one.
   */
  setTls(material: TlsMaterial): void;
}

const MAX_HEADER_BYTES = 16 * 1024;
const SNIFF_TIMEOUT_MS = 10_000;

/**
 * One port serves everything. The first byte of a connection tells TLS (a handshake record, 0x16)
 * from plain HTTP, so a server with a certificate still answers a plain client with a clear refusal
 * instead of garbage, and `require-tls` can be a setting rather than a second port.
 *
 * `tlsOnly` skips that sniff: the port speaks TLS alone, as an HTTPS port does. The sniffed byte
 * has to be fed back to TLS from JavaScript, and Node then sizes the first buffer of the
 * connection's encrypted-input ring from that one byte (1 KB rather than 64 KB); the ring keeps it
 * for the connection's life, so every other socket read is 1 KB and a TLS relay costs about 20%
 * more CPU per byte (docs/benchmarks.md). A plain HTTP request on such a port still gets an answer
 * in plain HTTP saying why it was refused.
 */
export async function listen(
  host: string,
  port: number,
  handlers: ListenerHandlers,
  tlsMaterial?: TlsMaterial,
  tlsOnly = false,
): Promise<Listener> {
  // The header deadline is checked every second rather than Node's default 30 s, so a slowloris
  // connection trickling header lines is closed at 10 s, not held for up to 40.
  const httpServer = http.createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    requestTimeout: 30_000,
    headersTimeout: 10_000,
    connectionsCheckingInterval: 1000,
  });
  httpServer.on('request', handlers.request);
  httpServer.on('upgrade', handlers.upgrade);
  /** Sockets already given an error answer: more bytes after it are ignored until they close. */
  const answered = new WeakSet<Duplex>();
  httpServer.on(
    'clientError',
    (
      err: NodeJS.ErrnoException & { rawPacket?: unknown },
      socket: Duplex & { _httpMessage?: { headersSent?: boolean } },
    ) => {
      // A request Node cannot parse (a bad method, headers over the limit, too slow) still gets a
      // JSON error with a stable code, like every other refusal, when nothing else was answered yet.
      // Bytes that are not HTTP at all are dropped without a word.
      if (answered.has(socket)) return;
      const answerable =
        err.code === 'HPE_HEADER_OVERFLOW' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || looksLikeHttp(err.rawPacket);
      if (answerable && socket.writable && !socket._httpMessage?.headersSent) {
        answered.add(socket);
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        const message =
          status === 408 ? 'request not received in time' : `malformed HTTP request (${err.code ?? 'parse error'})`;
        answerRaw(socket, status, {
          error: { code: status === 431 ? ErrorCodes.MESSAGE_TOO_BIG : ErrorCodes.BAD_MESSAGE, message },
        });
      } else socket.destroy();
    },
  );
  // No proxying here: a CONNECT request is refused like any unknown route.
  httpServer.on('connect', (_req, socket: Duplex) =>
    answerRaw(socket, 405, { error: { code: ErrorCodes.NOT_FOUND, message: 'CONNECT is not supported' } }),
  );

  // The handshake has the sniff's deadline, not Node's 120 s: a peer that stalls in it holds a socket.
  const tlsServer = tlsMaterial
    ? tls.createServer({
        cert: tlsMaterial.cert,
        key: tlsMaterial.key,
        allowHalfOpen: true,
        handshakeTimeout: SNIFF_TIMEOUT_MS,
      })
    : undefined;
  tlsServer?.on('secureConnection', (socket) => {
    // Every socket the HTTP server hands on has this listener from the start, plain or TLS, so an
    // upgrade handler need not add its own (a second 'error' listener grows the socket's listener
    // array for the connection's whole life).
    socket.on('error', destroyOnError);
    httpServer.emit('connection', socket);
  });
  tlsServer?.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket & { _parent?: net.Socket }) => {
    // OpenSSL recognises a plain HTTP request where a handshake was due (only a TLS-only port gets
    // one; only GET, POST, HEAD and PUT are recognised). The TLS socket is done, but the TCP socket
    // under it (Node's `_parent`) can still carry a plain answer, as an HTTPS server's "plain HTTP
    // request sent to HTTPS port" does. Best effort: Node closes that socket moments later.
    const raw = socket._parent;
    if (err.code === 'ERR_SSL_HTTP_REQUEST' && raw?.writable) {
      answerRaw(raw, 403, {
        error: { code: ErrorCodes.TLS_REQUIRED, message: 'this port speaks TLS only: use https://' },
      });
    } else socket.destroy();
  });

  /** Open sockets, each with the remote address it was admitted under (released when it closes). */
  const sockets = new Map<net.Socket, string>();
  // One 'close' listener for all sockets rather than a closure (and its scope) per idle client.
  // 'close' comes once: `on` spares the wrapper `once` would keep per socket for its whole life.
  function onSocketClose(this: net.Socket): void {
    const address = sockets.get(this);
    if (address === undefined) return;
    sockets.delete(this);
    handlers.release(address);
  }
  const tcpServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    const address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!handlers.admit(address)) return void socket.destroy();
    sockets.set(socket, address);
    socket.on('close', onSocketClose);
    socket.on('error', destroyOnError);
    socket.setNoDelay(true);
    if (tlsServer && tlsOnly) return void tlsServer.emit('connection', socket);
    // Nothing that outlives the first bytes keeps this scope: the timer and the 'readable' listener
    // are gone once they have fired.
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    socket.once('readable', () => {
      clearTimeout(timer);
      const first = socket.read(1) as Buffer | null;
      if (!first) return void socket.destroy();
      if (first[0] === 0x16 && tlsServer) {
        socket.unshift(first);
        tlsServer.emit('connection', socket);
      } else {
        // Put back what has arrived as one chunk: the HTTP parser then sees the request's start as
        // the client sent it (a one-byte first chunk splits a parse error in two).
        const rest = socket.read() as Buffer | null;
        socket.unshift(rest ? Buffer.concat([first, rest]) : first);
        httpServer.emit('connection', socket);
      }
      socket.resume();
    });
  });

  await new Promise<void>((resolve, reject) => {
    tcpServer.once('error', reject);
    tcpServer.listen({ host, port, backlog: 4096 }, () => {
      tcpServer.off('error', reject);
      resolve();
    });
  });
  // The HTTP server never listens itself (its sockets come from the sniffer above), and Node starts
  // the timer that enforces headersTimeout and requestTimeout, and tracks connections for
  // closeAllConnections, only on 'listening'. Without this a slowloris connection is never closed.
  httpServer.emit('listening');

  return {
    address: tcpServer.address() as net.AddressInfo,
    openSockets: () => sockets.size,
    setTls: (material) => tlsServer?.setSecureContext({ cert: material.cert, key: material.key }),
    close: () =>
      new Promise<void>((resolve) => {
        tcpServer.close(() => resolve());
        httpServer.closeAllConnections();
        for (const socket of sockets.keys()) socket.destroy();
      }),
  };
}
