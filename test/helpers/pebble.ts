import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { OWN_GROUP, trackChild } from './harness.js';

/** A free TCP port on a loopback address (released before use: fine for a test on loopback). */
export function freePortOn(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A DNS server of a few lines for pebble's validation: every name in `names` has the A record
 * given; anything else (and every other type: AAAA, CAA) gets an empty NOERROR answer, so pebble
 * dials the address we chose for each domain (our server's http-01 port on 127.x.y.z).
 */
export async function startDns(names: Map<string, string>): Promise<{ address: string; close(): void }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 12) return;
    let offset = 12;
    const labels: string[] = [];
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset]!;
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString('ascii'));
      offset += 1 + length;
    }
    const questionEnd = offset + 5;
    if (questionEnd > query.length) return;
    const qtype = query.readUInt16BE(offset + 1);
    const ip = names.get(labels.join('.').toLowerCase());
    const answers: Buffer[] = [];
    if (ip && qtype === 1) {
      const answer = Buffer.alloc(16);
      answer.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      answer.writeUInt16BE(1, 2); // A
      answer.writeUInt16BE(1, 4); // IN
      answer.writeUInt32BE(5, 6); // TTL
      answer.writeUInt16BE(4, 10);
      ip.split('.').forEach((part, i) => answer.writeUInt8(Number(part), 12 + i));
      answers.push(answer);
    }
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, NOERROR
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, query.subarray(12, questionEnd), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return { address: `127.0.0.1:${port}`, close: () => socket.close() };
}

export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** PEM of the certificate pebble serves its directory with (what the ACME client must trust). */
  directoryCa: string;
  /** The port pebble's http-01 validation dials on each domain's address. */
  httpPort: number;
  process: ChildProcess;
  /** PEM of the root that signs the certificates pebble issues. */
  issuerRoot(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Debian's pebble on loopback, with its own TLS certificate made here, validating http-01 for
 * real (unless `alwaysValid`) against the addresses `dns` gives for each name.
 */
export async function startPebble(
  dir: string,
  opts: { dnsServer?: string; alwaysValid?: boolean } = {},
): Promise<Pebble> {
  const pems = await generate([{ name: 'commonName', value: 'pebble-test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  } as Parameters<typeof generate>[1]);
  writeFileSync(join(dir, 'pebble-cert.pem'), pems.cert);
  writeFileSync(join(dir, 'pebble-key.pem'), pems.private);
  const [port, managementPort, httpPort] = [await freePortOn(), await freePortOn(), await freePortOn()];
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(dir, 'pebble-cert.pem'),
        privateKey: join(dir, 'pebble-key.pem'),
        httpPort,
        tlsPort: await freePortOn(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const args = ['-config', join(dir, 'pebble.json'), ...(opts.dnsServer ? ['-dnsserver', opts.dnsServer] : [])];
  const child = trackChild(
    spawn('/usr/bin/pebble', args, {
      ...OWN_GROUP,
      env: {
        ...process.env,
        PEBBLE_VA_NOSLEEP: '1',
        PEBBLE_WFE_NONCEREJECT: '0',
        ...(opts.alwaysValid ? { PEBBLE_VA_ALWAYS_VALID: '1' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/Listening on: /.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pebble exited (${code}): ${output}`)));
  });
  const directoryCa = pems.cert;
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    directoryCa,
    httpPort,
    process: child,
    async issuerRoot() {
      const { get } = await import('node:https');
      return new Promise((resolve, reject) => {
        get(`https://127.0.0.1:${managementPort}/roots/0`, { ca: directoryCa }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
