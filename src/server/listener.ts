import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { TlsMaterial } from './tlsFiles.js';

export interface ListenerHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Counts a new connection in by remote address; false closes it at once. */
  admit(address: string): boolean;
  release(address: string): void;
}

export interface Listener {
  address: net.AddressInfo;
  close(): Promise<void>;
  /** Sockets currently open, plain or TLS: for shutdown and leak checks. */
  openSockets(): number;
}

const MAX_HEADER_BYTES = 16 * 1024;
const SNIFF_TIMEOUT_MS = 10_000;

/**
 * One port serves everything. The first byte of a connection tells TLS (a handshake record, 0x16)
 * from plain HTTP, so a server with a certificate still answers a plain client with a clear refusal
 * instead of garbage, and `require-tls` can be a setting rather than a second port.
 */
export async function listen(host: string, port: number, handlers: ListenerHandlers, tlsMaterial?: TlsMaterial): Promise<Listener> {
  // The header deadline is checked every second rather than Node's default 30 s, so a slowloris
  // connection trickling header lines is closed at 10 s, not held for up to 40.
  const httpServer = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 30_000, headersTimeout: 10_000, connectionsCheckingInterval: 1000 });
  httpServer.on('request', handlers.request);
  httpServer.on('upgrade', handlers.upgrade);
  httpServer.on('clientError', (_err, socket) => socket.destroy());

  const tlsServer = tlsMaterial ? tls.createServer({ cert: tlsMaterial.cert, key: tlsMaterial.key, allowHalfOpen: true }) : undefined;
  tlsServer?.on('secureConnection', (socket) => httpServer.emit('connection', socket));
  tlsServer?.on('tlsClientError', (_err, socket) => socket.destroy());

  const sockets = new Set<net.Socket>();
  const tcpServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    const address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!handlers.admit(address)) return void socket.destroy();
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      handlers.release(address);
    });
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    socket.once('readable', () => {
      clearTimeout(timer);
      const first = socket.read(1) as Buffer | null;
      if (!first) return void socket.destroy();
      socket.unshift(first);
      if (first[0] === 0x16 && tlsServer) tlsServer.emit('connection', socket);
      else httpServer.emit('connection', socket);
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
    close: () =>
      new Promise<void>((resolve) => {
        tcpServer.close(() => resolve());
        httpServer.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
  };
}
