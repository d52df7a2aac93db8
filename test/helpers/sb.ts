/**
 * Helpers for the standalone-server tests: process bookkeeping (/proc), local services for sessions
 * to reach, raw protocol peers built on `ws`, and small waits. Additive to harness.ts.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import WebSocket from 'ws';
import { newIdentity, type ClientIdentity } from '../../src/client/identity.js';
import { ControlClient } from '../../src/control/controlClient.js';
import type { ClientInfo, ServerInfo } from '../../src/protocol/messages.js';
import { keyProof } from '../../src/protocol/proof.js';
import { Proc, runCli, startClient, type CliResult } from './harness.js';
import { freePort, sleep } from './ports.js';

export { freePort, sleep };

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Open file descriptors of a process (sockets included). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Open sockets of a process. */
export function socketCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops processes for good: SIGCONT (in case a test stopped one), SIGTERM, then SIGKILL. */
export async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.child.kill('SIGCONT');
      p.child.kill('SIGTERM');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(timer);
    }),
  );
}

// ---- controls ------------------------------------------------------------------------------------

export interface Login {
  operator?: string;
  password?: string;
}

/** A control through the SDK, over a real socket (faster than a CLI process per check). */
export function connectControl(address: string, key: string, login: Login = {}): Promise<ControlClient> {
  return ControlClient.connect({
    gateway: address,
    key,
    operator: login.operator,
    password: login.password,
    dial: { tls: false },
  });
}

export async function browse(address: string, key: string, login: Login = {}): Promise<ClientInfo[]> {
  const control = await connectControl(address, key, login);
  try {
    return await control.browse();
  } finally {
    control.close();
  }
}

export async function servers(address: string, key: string, login: Login = {}): Promise<ServerInfo[]> {
  const control = await connectControl(address, key, login);
  try {
    return await control.servers();
  } finally {
    control.close();
  }
}

/** Runs `switchboard control --gateway A --key K ...`, with an operator's password in the environment. */
export function controlCli(
  address: string,
  key: string,
  args: string[],
  login: Login = {},
  opts: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<CliResult> {
  const auth = login.operator ? ['--operator', login.operator, '--password-env', 'SB_TEST_PASSWORD'] : [];
  return runCli(['control', '--gateway', address, '--key', key, ...auth, ...args], {
    env: { SB_TEST_PASSWORD: login.password ?? '' },
    ...opts,
  });
}

/** A client named `name` (its state in `stateDir`) that allows forwards to `ports`, once connected. */
export function startForwardingClient(
  address: string,
  key: string,
  name: string,
  stateDir: string,
  ports: number[],
): Promise<Proc> {
  const allow = ['--allow-forward', ports.join(',')];
  return startClient(['--gateway', address, '--key', key, '--name', name, '--state', stateDir, ...allow]);
}

/** `control forward CLIENT 0:PORT`, waiting until it listens; returns the local port. */
export async function startForwardProc(
  address: string,
  key: string,
  client: string,
  remotePort: number,
  login: Login = {},
): Promise<{ proc: Proc; port: number }> {
  const auth = login.operator ? ['--operator', login.operator, '--password-env', 'SB_TEST_PASSWORD'] : [];
  const proc = new Proc(
    ['control', '--gateway', address, '--key', key, ...auth, 'forward', client, `0:${remotePort}`],
    { SB_TEST_PASSWORD: login.password ?? '' },
  );
  const line = await proc.waitForMsg('forwarding');
  const port = Number(String(line.listen).split(':').pop());
  return { proc, port };
}

// ---- services on the "client's machine" ------------------------------------------------------------

export interface Service {
  port: number;
  server: net.Server;
  close(): Promise<void>;
}

function listenService(server: net.Server): Promise<Service> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        server,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

/** A TCP service; the handler gets each connection (half-close allowed). */
export function tcpService(onConnection: (socket: net.Socket) => void): Promise<Service> {
  return listenService(net.createServer({ allowHalfOpen: true }, onConnection));
}

/** Echoes every byte back; answers EOF with EOF. */
export function echoService(): Promise<Service> {
  return tcpService((s) => s.pipe(s));
}

/** An HTTP server with one file at /file and a small page at /. */
export function httpFileService(file: Buffer): Promise<Service> {
  const server = http.createServer((req, res) => {
    if (req.url === '/file') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length });
      res.end(file);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello\n');
    }
  });
  return listenService(server);
}

/** Downloads a URL fully; resolves with the status, the body's SHA-256 and its length. */
export function httpGet(
  port: number,
  path: string,
  agent: http.Agent | false = false,
): Promise<{ status: number; sha: string; length: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
        if (length <= 1_000_000) chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, sha: hash.digest('hex'), length, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** A deterministic byte stream of `total` bytes (a repeating pseudo-random block). */
export function patternBlock(size = 64 * 1024, seed = 7): Buffer {
  const block = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    block[i] = x >>> 16;
  }
  return block;
}

export function patternStream(total: number, block = patternBlock()): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: block.length,
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(block.length, total - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

export function patternSha(total: number, block = patternBlock()): string {
  const hash = createHash('sha256');
  let left = total;
  while (left > 0) {
    const n = Math.min(block.length, left);
    hash.update(n === block.length ? block : block.subarray(0, n));
    left -= n;
  }
  return hash.digest('hex');
}

/** Connects to a local port; resolves once connected. */
export function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Reads a socket to its end (or close); resolves with everything read. */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', () => undefined);
  });
}

/** Sends a line through an echo session and waits for it to come back. */
export function echoRoundTrip(socket: net.Socket, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => {
      socket.off('data', onData);
      reject(new Error(`echo of ${JSON.stringify(text)} did not come back; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    // A socket handed over paused (rawHttp after a 101) keeps any early bytes until now.
    socket.resume();
    socket.write(text);
  });
}

// ---- raw protocol peers ----------------------------------------------------------------------------

export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket with its messages queued and its close recorded, for protocol-level tests. */
export class RawPeer {
  readonly messages: Record<string, unknown>[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      try {
        this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
      } catch {
        this.messages.push({ type: '(not json)', raw: data.toString() });
      }
      this.notify();
    });
    ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.notify();
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  static open(address: string, path: string, opts: WebSocket.ClientOptions = {}): RawPeer {
    return new RawPeer(new WebSocket(`ws://${address}${path}`, { perMessageDeflate: false, ...opts }));
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first message of this type (already received or still to come). */
  next(type: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} message; got ${JSON.stringify(this.messages)}`)),
        timeoutMs,
      );
      const check = () => {
        const found = this.messages.find((m) => m.type === type);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          clearTimeout(timer);
          reject(new Error(`closed before a ${type} message`));
        } else this.waiters.push(check);
      };
      check();
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  async closeResult(timeoutMs = 10_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error('the server did not close the connection')), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export interface HelloFields {
  /** Who the client is (its id comes from its key pair); a fresh one if not given. */
  identity?: ClientIdentity;
  name?: string;
  group?: string;
  allowForward?: number[];
  allowExec?: boolean;
}

export function helloFor(
  key: string,
  nonce: string,
  f: HelloFields & { identity: ClientIdentity },
): Record<string, unknown> {
  const { id } = f.identity;
  return {
    type: 'hello',
    version: 1,
    id,
    name: f.name ?? `raw-${id.slice(0, 6)}`,
    group: f.group ?? '',
    platform: 'raw-test',
    proof: keyProof(key, 'client', nonce, id),
    publicKey: f.identity.publicKey,
    signature: f.identity.sign(nonce),
    allowForward: f.allowForward ?? [],
    allowExec: f.allowExec ?? false,
  };
}

/** A raw client: challenge, then a hello proving `key`. Check `next('welcome')` or `closed` after. */
export async function rawClient(
  address: string,
  key: string,
  f: HelloFields = {},
): Promise<RawPeer & { identity: ClientIdentity }> {
  const identity = f.identity ?? newIdentity();
  const peer = RawPeer.open(address, '/v1/client');
  const challenge = await peer.next('challenge');
  peer.send(helloFor(key, challenge.nonce as string, { ...f, identity }));
  return Object.assign(peer, { identity });
}

/** A raw control logged in with `key` (and an operator's password). */
export async function rawControl(address: string, key: string, login: Login = {}): Promise<RawPeer> {
  const peer = RawPeer.open(address, '/v1/control');
  const challenge = await peer.next('challenge');
  peer.send({
    type: 'login',
    version: 1,
    proof: keyProof(key, 'control', challenge.nonce as string, login.operator ?? ''),
    operator: login.operator,
    password: login.password,
  });
  return peer;
}

/** Sends a control request on a raw control and waits for its response. */
export async function rawRequest(
  peer: RawPeer,
  req: number,
  method: string,
  params: unknown,
): Promise<{ result?: unknown; error?: { code: string; message: string } }> {
  peer.send({ type: 'request', req, method, params });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = peer.messages.find((m) => m.type === 'response' && m.req === req);
    if (found) return found as { result?: unknown; error?: { code: string; message: string } };
    if (peer.ws.readyState === WebSocket.CLOSED) throw new Error('control closed before the response');
    if (Date.now() > deadline) throw new Error(`no response to ${method}`);
    await sleep(20);
  }
}

export interface RawHttpReply {
  status: number;
  headers: string;
  body: string;
  /** After a 101, paused with any bytes that followed the headers put back: resume it to read. */
  socket: net.Socket;
}

/**
 * Sends one HTTP request on a fresh socket and reads the status line and headers (and, for a
 * non-101 answer, the body). For a 101 the socket is returned open, as a raw byte stream.
 */
export function rawHttp(address: string, request: string): Promise<RawHttpReply> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => socket.write(request));
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no HTTP answer; got ${JSON.stringify(buf.toString())}`));
    }, 10_000);
    const finish = (reply: RawHttpReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(reply);
    };
    const parse = (ended: boolean) => {
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) {
        if (ended) reject(new Error(`incomplete HTTP answer: ${JSON.stringify(text)}`));
        return;
      }
      const headers = text.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0);
      if (status === 101) {
        const rest = buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
        // Stop reading before handing back what came behind the headers: unshifted while our
        // listener is still attached, it would come straight back to it, again and again.
        socket.off('data', onData);
        socket.pause();
        if (rest.length) socket.unshift(rest);
        return finish({ status, headers, body: '', socket });
      }
      const length = Number(/content-length:\s*(\d+)/i.exec(headers)?.[1] ?? -1);
      const body = buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
      if (ended || (length >= 0 && body.length >= length))
        finish({ status, headers, body: body.toString('utf8'), socket });
    };
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      parse(false);
    };
    socket.on('data', onData);
    socket.on('end', () => parse(true));
    socket.on('error', (err) => {
      if (!done) reject(err);
    });
  });
}

export function sessionUpgradeRequest(address: string, ticket: string, upgrade = 'switchboard-session'): string {
  return `GET /v1/session/${encodeURIComponent(ticket)} HTTP/1.1\r\nHost: ${address}\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n\r\n`;
}

/** Parses the JSON printed by a CLI command, with its stderr in the error if it fails. */
export function jsonOf<T>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
