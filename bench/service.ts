import net from 'node:net';

/**
 * The service on the "client's machine" that every benchmark path ends at, in its own process.
 * It speaks first (a one-byte banner, as sshd does), so the time to the first byte measures
 * session setup. Then it takes one request line:
 *   `down N\n`  it streams N bytes and ends (the control downloads);
 *   `up\n`      it counts bytes until EOF, answers `COUNT\n` and ends (the control uploads;
 *               this also checks that a half-close is carried through every hop).
 * Usage: node dist/bench/service.js  → prints {"msg":"listening","address":"127.0.0.1:PORT"}
 */
const CHUNK = Buffer.alloc(64 * 1024);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 2654435761) >>> 24;

function streamBytes(socket: net.Socket, total: number): void {
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      const ok = socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      if (!ok) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
}

function countUntilEnd(socket: net.Socket, already: number): void {
  let count = already;
  socket.on('data', (chunk: Buffer) => (count += chunk.length));
  socket.once('end', () => socket.end(`${count}\n`));
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.write('!');
  let head: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = head.length ? Buffer.concat([head, chunk]) : chunk;
    const nl = head.indexOf(10);
    if (nl === -1) {
      if (head.length > 64) socket.destroy();
      return;
    }
    socket.off('data', onData);
    const line = head.subarray(0, nl).toString();
    const rest = head.length - nl - 1;
    if (line.startsWith('down ')) {
      socket.resume();
      socket.on('data', () => undefined);
      streamBytes(socket, Number(line.slice(5)));
    } else if (line === 'up') {
      countUntilEnd(socket, rest);
    } else socket.destroy();
  };
  socket.on('data', onData);
  socket.once('end', () => {
    if (socket.listenerCount('data') === 1 && socket.listeners('data')[0] === onData) socket.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ msg: 'listening', address: `${a.address}:${a.port}` }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
