import net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The far end of every benchmark path (the "sink"), in its own process so that its work is never
 * charged to the process that orchestrates. It is forked with an IPC channel and answers requests:
 *   {id, op: 'download', address, bytes}  → {id, bytes, ms, setupMs}
 *   {id, op: 'upload', address, bytes}    → {id, bytes, ms, setupMs}
 *   {id, op: 'firstByte', address, count} → {id, samples: [ms, ...]}
 * `setupMs` is connect → first byte of the service's banner; `ms` is the transfer alone (request
 * line sent → last byte counted, or upload started → the service's count received).
 */
export type DriverRequest =
  | { id: number; op: 'download' | 'upload'; address: string; bytes: number }
  | { id: number; op: 'firstByte'; address: string; count: number };

export interface TransferResult {
  bytes: number;
  ms: number;
  setupMs: number;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** Connects and resolves with the socket once the service's banner byte arrived. */
function connectToBanner(address: string): Promise<{ socket: net.Socket; setupMs: number; extra: Buffer }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ ...hostPort(address), allowHalfOpen: true, noDelay: true });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`${address} closed before its banner`)));
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      resolve({ socket, setupMs: performance.now() - t0, extra: chunk.subarray(1) });
    });
  });
}

async function download(address: string, bytes: number): Promise<TransferResult> {
  const { socket, setupMs, extra } = await connectToBanner(address);
  return new Promise((resolve, reject) => {
    let got = extra.length;
    const t0 = performance.now();
    socket.on('data', (chunk: Buffer) => (got += chunk.length));
    socket.once('end', () => {
      const ms = performance.now() - t0;
      socket.destroy();
      if (got !== bytes) reject(new Error(`download from ${address}: expected ${bytes} bytes, got ${got}`));
      else resolve({ bytes: got, ms, setupMs });
    });
    socket.once('error', reject);
    socket.write(`down ${bytes}\n`);
    socket.resume();
  });
}

async function upload(address: string, bytes: number): Promise<TransferResult> {
  const { socket, setupMs } = await connectToBanner(address);
  return new Promise((resolve, reject) => {
    let reply = '';
    const t0 = performance.now();
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (reply += text));
    socket.once('end', () => {
      const ms = performance.now() - t0;
      socket.destroy();
      const counted = Number(reply.trim());
      if (counted !== bytes)
        reject(
          new Error(`upload to ${address}: sent ${bytes} bytes, the service counted ${reply.trim() || 'nothing'}`),
        );
      else resolve({ bytes, ms, setupMs });
    });
    socket.once('error', reject);
    socket.resume();
    socket.write('up\n');
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
}

async function firstByte(address: string, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const { socket, setupMs } = await connectToBanner(address);
    samples.push(setupMs);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.on('error', () => undefined);
      socket.destroy();
    });
  }
  return samples;
}

process.on('message', (req: DriverRequest) => {
  const work: Promise<object> =
    req.op === 'firstByte'
      ? firstByte(req.address, req.count).then((samples) => ({ samples }))
      : req.op === 'download'
        ? download(req.address, req.bytes)
        : upload(req.address, req.bytes);
  work.then(
    (result) => process.send!({ id: req.id, ...result }),
    (err: Error) => process.send!({ id: req.id, error: err.message }),
  );
});
process.send!({ ready: true });
