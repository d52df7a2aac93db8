import http from 'node:http';
import { WebSocketServer } from 'ws';

/**
 * The baseline for the idle-clients and placement benchmarks: the barest WebSocket server one would
 * write with the same `ws` library Switchboard uses (same options: no compression, no client
 * tracking). It answers each connection with one message, then echoes every message it receives,
 * so a generator can time "connect + one round trip", and otherwise just holds the connection.
 *
 * Usage: node [flags] dist/bench/bareWs.js --listen HOST:PORT
 * Prints {"msg":"listening","address":"HOST:PORT"}.
 */
const i = process.argv.indexOf('--listen');
const listen = i === -1 ? '127.0.0.1:0' : process.argv[i + 1]!;
const colon = listen.lastIndexOf(':');

const server = http.createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 64 * 1024,
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate());
    // Like Switchboard's challenge: the server speaks first.
    ws.send('{"type":"challenge"}');
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});
server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), () => {
  const a = server.address() as { address: string; port: number };
  process.stdout.write(JSON.stringify({ msg: 'listening', address: `${a.address}:${a.port}` }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
