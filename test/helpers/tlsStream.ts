import net from 'node:net';
import tls from 'node:tls';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { generate } from 'selfsigned';

/**
 * A TCP connection through a forward session that stays open: each `roundTrip` sends bytes and
 * waits for the echo, so a test can prove one session carried bytes before, during and after an event.
 */
export async function openEchoStream(
  port: number,
): Promise<{ roundTrip(): Promise<void>; close(): void; closed(): boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  let pending: { want: Buffer; got: Buffer[]; size: number; done: (err?: Error) => void } | undefined;
  socket.on('data', (d: Buffer) => {
    if (!pending) return;
    pending.got.push(d);
    pending.size += d.length;
    if (pending.size >= pending.want.length) {
      const all = Buffer.concat(pending.got);
      const p = pending;
      pending = undefined;
      p.done(all.equals(p.want) ? undefined : new Error('the echo differs from what was sent'));
    }
  });
  return {
    roundTrip: () =>
      new Promise<void>((resolve, reject) => {
        if (closed) return reject(new Error('the session was cut'));
        const want = randomBytes(64 * 1024);
        const timer = setTimeout(() => reject(new Error('no echo within 20 s')), 20_000);
        pending = {
          want,
          got: [],
          size: 0,
          done: (err) => {
            clearTimeout(timer);
            if (err) reject(err);
            else resolve();
          },
        };
        socket.once('close', () => reject(new Error('the session was cut')));
        socket.write(want);
      }),
    close: () => socket.destroy(),
    closed: () => closed,
  };
}

/** The certificate a new TLS connection to `address` is served (not verified: only looked at). */
export function servedCertificate(address: string): Promise<tls.PeerCertificate> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: address.slice(0, i), port: Number(address.slice(i + 1)), rejectUnauthorized: false },
      () => {
        const cert = socket.getPeerCertificate();
        socket.destroy();
        resolve(cert);
      },
    );
    socket.once('error', reject);
  });
}

/** A new EC key pair, PEM. */
export function newKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A self-signed certificate for 127.0.0.1 on the given key: a new one each call (a renewal). */
export async function certificateFor(keys: { privateKey: string; publicKey: string }): Promise<string> {
  const pems = await generate([{ name: 'commonName', value: 'switchboard-test' }], {
    keyPair: keys,
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  } as Parameters<typeof generate>[1]);
  return pems.cert;
}

/** Replaces a file as deployment tools do: a new file renamed over the old one. */
export function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.new`, text, { mode: 0o600 });
  renameSync(`${file}.new`, file);
}
