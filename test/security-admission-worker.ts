/**
 * A flood of bare WebSocket upgrades to /v1/client with no key (no placement headers), run as a
 * child process by test/security-admission.test.ts, so the flood has a CPU of its own as an
 * outsider's would:
 *
 *   node dist/test/security-admission-worker.js '{"targets":["127.0.0.1:8443"],"source":"127.0.115.1","concurrency":64}'
 *
 * `concurrency` connections are in flight at once, each from `source`: connect, send the upgrade,
 * read the status line, hang up, start the next at once (a 101 is hung up too: the flood only
 * wants admission). Targets are taken in turn. Prints a JSON line of cumulative counts every
 * 500 ms until SIGTERM, then a last one with `"done":true`.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

interface Options {
  targets: string[];
  source: string;
  concurrency: number;
}

export interface AdmissionFloodStats {
  /** Upgrade requests answered, by HTTP status ("101", "503", ...), or "closed" with no answer. */
  answers: Record<string, number>;
  /** 503 answers by error code in their JSON body. */
  busyCodes: Record<string, number>;
  connectErrors: number;
  done?: boolean;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const stats: AdmissionFloodStats = { answers: {}, busyCodes: {}, connectErrors: 0 };
let stopping = false;
let turn = 0;

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function upgradeOnce(): void {
  if (stopping) return;
  const target = options.targets[turn++ % options.targets.length]!;
  const at = target.lastIndexOf(':');
  const socket = net.connect({
    host: target.slice(0, at),
    port: Number(target.slice(at + 1)),
    localAddress: options.source,
  });
  let text = '';
  let connected = false;
  let counted = false;
  const count = (status: string) => {
    if (counted) return;
    counted = true;
    bump(stats.answers, status);
    if (status === '503') bump(stats.busyCodes, /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? '?');
  };
  socket.setEncoding('latin1');
  socket.on('connect', () => {
    connected = true;
    socket.write(
      `GET /v1/client HTTP/1.1\r\nHost: ${target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
  });
  socket.on('data', (chunk: string) => {
    text += chunk;
    const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
    // A 503's body (its error code) follows its headers; a 101 has nothing more to say.
    if (status && (status !== '503' || text.includes('}'))) {
      count(status);
      socket.destroy();
    }
  });
  socket.on('error', () => {
    if (!connected) stats.connectErrors++;
  });
  socket.on('close', () => {
    if (connected) count(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 'closed');
    // A failed connect (the server not up yet, or gone) is retried after a pause, not in a spin.
    if (connected) setImmediate(upgradeOnce);
    else setTimeout(upgradeOnce, 100);
  });
}

for (let i = 0; i < options.concurrency; i++) upgradeOnce();
const report = setInterval(() => process.stdout.write(JSON.stringify(stats) + '\n'), 500);
process.once('SIGTERM', () => {
  stopping = true;
  clearInterval(report);
  process.stdout.write(JSON.stringify({ ...stats, done: true }) + '\n');
  process.exit(0);
});
