import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { verifyIdentity } from '../src/protocol/clientIdentity.js';
import { provenPlacementId } from '../src/protocol/placementRequest.js';
import { findProvenKey, newNonce } from '../src/protocol/proof.js';

/**
 * The floor of the placement benchmark: the least any server can do to place a client the way the
 * protocol asks, written bare with the same `ws` library and the same crypto functions, and
 * nothing else (no validation, no logs, no metrics, no directory, no report to a primary, no
 * limits). Real Switchboard clients (ClientAgent) are placed through it, so its rate is the most
 * the placement flow itself allows on this machine, and Switchboard's rate against it is what
 * our own code costs on top.
 *
 *   --redirect A,B   the primary's part: an upgrade request whose headers prove the key (HMAC) is
 *                    answered with a 307 naming the next address in turn, and closed;
 *   --key K          a member's part: challenge, then a hello whose key proof (HMAC) and identity
 *                    signature (Ed25519) are checked, then welcome; the connection is held.
 *
 * Usage: node [flags] dist/bench/bareProtocol.js --listen HOST:PORT --key K [--redirect A,B]
 * Prints {"msg":"listening","address":"HOST:PORT"}.
 */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

const listen = arg('--listen') ?? '127.0.0.1:0';
const colon = listen.lastIndexOf(':');
const redirectTo = arg('--redirect')?.split(',');
const keys = [{ value: arg('--key') ?? '' }];

const server = http.createServer((_req, res) => res.writeHead(404).end());
let next = 0;

function redirect(req: http.IncomingMessage, socket: Duplex): void {
  if (!provenPlacementId(req.headers, keys, Date.now()))
    return void socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
  const to = redirectTo![next++ % redirectTo!.length]!;
  const body = JSON.stringify({ redirect: { to, reason: 'next in turn' } });
  socket.end(
    `HTTP/1.1 307 Temporary Redirect\r\nLocation: http://${to}/v1/client\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 64 * 1024,
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (redirectTo) return redirect(req, socket);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate());
    const nonce = newNonce();
    ws.send(JSON.stringify({ type: 'challenge', nonce, server: listen, epoch: 0 }));
    ws.once('message', (data) => {
      const hello = JSON.parse(data.toString()) as { id: string; publicKey: string; signature: string; proof: string };
      const proven =
        findProvenKey(keys, 'client', nonce, hello.id, hello.proof) &&
        verifyIdentity(hello.id, hello.publicKey, hello.signature, nonce);
      if (!proven) return ws.close(4001, 'not proven');
      ws.send(JSON.stringify({ type: 'welcome', server: listen, heartbeat: 30, cluster: {} }));
    });
  });
});
server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), () => {
  const a = server.address() as { address: string; port: number };
  process.stdout.write(JSON.stringify({ msg: 'listening', address: `${a.address}:${a.port}` }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
