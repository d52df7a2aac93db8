/**
 * A junk-connection flood, run as a child process by test/security-flood.test.ts (one process holds
 * a few thousand sockets; more processes hold more without hitting one process's descriptor limit).
 *
 *   node dist/test/security-flood-worker.js '{"target":"127.0.0.1:8443","sources":["127.0.80.1"],"perSource":200,"seconds":20}'
 *
 * Each slot holds one connection of one kind from one source address, and opens a new one (after a
 * short pause) whenever the server closes it, so the pressure stays on for the whole run:
 *   silent     connects and sends nothing (half-open as far as the server can tell)
 *   garbage    random bytes, again and again
 *   tls-junk   a TLS record type byte, then garbage
 *   slowloris  a request line, then one more header line every second, never the end of the headers
 *   big-header a request whose headers are over the server's 16 KiB limit
 *   big-frame  a WebSocket upgrade to /v1/control, then a frame header announcing 100 MB
 *   big-body   a POST announcing a 100 MB body, then streaming it
 * Prints a JSON stats line every second and a final one with `"done":true`.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const KINDS = ['silent', 'garbage', 'tls-junk', 'slowloris', 'big-header', 'big-frame', 'big-body'] as const;
type Kind = (typeof KINDS)[number];

interface FloodOptions {
  target: string;
  sources: string[];
  perSource: number;
  seconds: number;
  /** Pause before a slot opens a new connection after the server closed its last one. */
  reopenMs?: number;
}

export interface FloodStats {
  open: number;
  peakOpen: number;
  opened: number;
  /** Connections the server closed (or reset), by kind. */
  closedByServer: Record<string, number>;
  /** Connect errors by code (EADDRNOTAVAIL, ECONNREFUSED...). */
  connectErrors: Record<string, number>;
  done?: boolean;
}

const options = JSON.parse(process.argv[2] ?? '{}') as FloodOptions;
const [host, portText] = [
  options.target.slice(0, options.target.lastIndexOf(':')),
  options.target.slice(options.target.lastIndexOf(':') + 1),
];
const port = Number(portText);
const reopenMs = options.reopenMs ?? 200;
const stats: FloodStats = { open: 0, peakOpen: 0, opened: 0, closedByServer: {}, connectErrors: {} };
const sockets = new Set<net.Socket>();
let stopping = false;

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function garbage(): Buffer {
  const b = randomBytes(256 + Math.floor(Math.random() * 2048));
  // Never the TLS record byte: that is the tls-junk kind's job.
  if (b[0] === 0x16) b[0] = 0x17;
  return b;
}

function start(kind: Kind, source: string): void {
  if (stopping) return;
  const socket = net.connect({ host, port, localAddress: source });
  let connected = false;
  let timer: NodeJS.Timeout | undefined;
  socket.setNoDelay(true);
  sockets.add(socket);
  socket.on('data', () => undefined);
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) bump(stats.connectErrors, err.code ?? 'error');
  });
  socket.once('connect', () => {
    connected = true;
    stats.opened++;
    stats.open++;
    stats.peakOpen = Math.max(stats.peakOpen, stats.open);
    switch (kind) {
      case 'silent':
        break;
      case 'garbage':
        socket.write(garbage());
        timer = setInterval(() => socket.write(garbage()), 1000);
        break;
      case 'tls-junk':
        socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]), randomBytes(512)]));
        break;
      case 'slowloris': {
        socket.write(`GET /api/v1/clients HTTP/1.1\r\nHost: ${options.target}\r\n`);
        let n = 0;
        timer = setInterval(() => socket.write(`X-Slow-${n++}: ${'a'.repeat(8)}\r\n`), 1000);
        break;
      }
      case 'big-header':
        socket.write(`GET /healthz HTTP/1.1\r\nHost: ${options.target}\r\nX-Big: ${'b'.repeat(32 * 1024)}\r\n\r\n`);
        break;
      case 'big-frame': {
        socket.write(
          `GET /v1/control HTTP/1.1\r\nHost: ${options.target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
        );
        // A masked text frame with a 64-bit length of 100 MB, then a trickle of payload.
        const header = Buffer.alloc(14);
        header[0] = 0x81;
        header[1] = 0x80 | 127;
        header.writeBigUInt64BE(100_000_000n, 2);
        randomBytes(4).copy(header, 10);
        socket.write(header);
        timer = setInterval(() => socket.write(randomBytes(4096)), 500);
        break;
      }
      case 'big-body':
        socket.write(
          `POST /api/v1/login HTTP/1.1\r\nHost: ${options.target}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"operator":"`,
        );
        timer = setInterval(() => socket.write('x'.repeat(16 * 1024)), 250);
        break;
    }
  });
  socket.once('close', () => {
    clearInterval(timer);
    sockets.delete(socket);
    if (connected) {
      stats.open--;
      if (!stopping) bump(stats.closedByServer, kind);
    }
    if (!stopping) setTimeout(() => start(kind, source), reopenMs + Math.floor(Math.random() * reopenMs));
  });
}

let slot = 0;
for (const source of options.sources) {
  for (let i = 0; i < options.perSource; i++) {
    const kind = KINDS[slot++ % KINDS.length]!;
    // Spread the first connects over a second, as a real flood ramps up.
    setTimeout(() => start(kind, source), Math.floor(Math.random() * 1000));
  }
}

const report = setInterval(() => process.stdout.write(JSON.stringify(stats) + '\n'), 1000);
const finish = () => {
  if (stopping) return;
  stopping = true;
  clearInterval(report);
  for (const s of sockets) s.destroy();
  process.stdout.write(JSON.stringify({ ...stats, done: true }) + '\n');
  setTimeout(() => process.exit(0), 100);
};
setTimeout(finish, options.seconds * 1000);
process.once('SIGTERM', finish);
