import net from 'node:net';

/**
 * The sink of the many-sessions benchmark, in its own process (forked with IPC). For a request
 * {addresses, sessions, warmupMs, windowMs} it opens `sessions` connections through the path (taking
 * the addresses in turn), waits
 * for every service banner, asks each for an endless download, lets them all run `warmupMs`, then
 * counts each one's bytes over `windowMs` and closes them all. It answers
 * {bytes: [per session], windowMs, setupMs} (setupMs: until the last banner arrived).
 * A fixed window rather than a fixed size: every session competes for the whole of it, so a
 * session's byte count is its share, and a starved one shows as a small count.
 */
export interface ParallelRequest {
  /** Where to connect: one address, or several taken in turn (one per control forward). */
  addresses: string[];
  sessions: number;
  warmupMs: number;
  windowMs: number;
}

export interface ParallelResult {
  bytes: number[];
  windowMs: number;
  setupMs: number;
}

/** Far more than any window can carry: the service streams until the sink hangs up. */
const ENDLESS = 1e15;
/** Session setups in flight at once: 200 at a time would test the connect backlog, not the relay. */
const OPENING_AT_ONCE = 20;

function open(address: string): Promise<{ socket: net.Socket; counter: { n: number } }> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
      noDelay: true,
    });
    const counter = { n: 0 };
    // Closed before its banner (a session refused): an error now, not a wait for ever.
    const closed = () => reject(new Error(`a connection through ${address} closed before the service's first byte`));
    socket.once('error', reject);
    socket.once('close', closed);
    socket.once('data', (chunk: Buffer) => {
      socket.removeListener('error', reject);
      socket.removeListener('close', closed);
      socket.on('error', () => undefined);
      counter.n = chunk.length - 1;
      socket.on('data', (c: Buffer) => (counter.n += c.length));
      resolve({ socket, counter });
    });
  });
}

async function run(req: ParallelRequest): Promise<ParallelResult> {
  const t0 = Date.now();
  const opened: { socket: net.Socket; counter: { n: number } }[] = [];
  let next = 0;
  const opener = async () => {
    while (next < req.sessions) {
      const address = req.addresses[next % req.addresses.length]!;
      next++;
      opened.push(await open(address));
    }
  };
  try {
    await Promise.all(Array.from({ length: OPENING_AT_ONCE }, opener));
    const setupMs = Date.now() - t0;
    for (const s of opened) s.socket.write(`down ${ENDLESS}\n`);
    await new Promise((r) => setTimeout(r, req.warmupMs));
    const start = opened.map((s) => s.counter.n);
    const started = performance.now();
    await new Promise((r) => setTimeout(r, req.windowMs));
    const end = opened.map((s) => s.counter.n);
    const windowMs = performance.now() - started;
    return { bytes: end.map((n, i) => n - start[i]!), windowMs, setupMs };
  } finally {
    for (const s of opened) s.socket.destroy();
  }
}

process.on('message', (req: ParallelRequest) => {
  run(req).then(
    (result) => process.send!(result),
    (err: Error) => process.send!({ error: err.message }),
  );
});
process.send!({ ready: true });
