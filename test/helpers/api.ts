/**
 * Helpers for the REST API and console tests: a small HTTP client over loopback (with a chosen
 * source address, to test per-address lockout), logins with TOTP, and an event-stream reader.
 */
import http from 'node:http';
import otplib from 'otplib';
import { currentTotp } from '../../src/store/totp.js';
import { runCli, waitFor } from './harness.js';
import { freePort } from './ports.js';

export { freePort };

export interface Answer<T = any> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  cookie?: string;
  csrf?: string;
  headers?: Record<string, string>;
  /** Sent as is (not JSON-encoded) when a string or Buffer. */
  raw?: string | Buffer;
  localAddress?: string;
}

export function request<T = any>(
  address: string,
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<Answer<T>> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const headers: Record<string, string> = {
    ...(payload !== undefined && opts.raw === undefined ? { 'content-type': 'application/json' } : {}),
    ...opts.headers,
  };
  // Always a length: Node sends a GET body without one otherwise, and the server reads it as garbage.
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method,
        path: path.startsWith('/') ? path : `/api/v1/${path}`,
        headers,
        agent: false,
        localAddress: opts.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface LoggedIn {
  token: string;
  csrf: string;
  /** `sb_session=...` as a Cookie header. */
  cookie: string;
  setCookie: string;
  role: string;
}

export async function login(
  address: string,
  operator: string,
  password: string,
  totp?: string,
  localAddress?: string,
): Promise<LoggedIn> {
  const answer = await request(
    address,
    'POST',
    'login',
    { operator, password, ...(totp ? { totp } : {}) },
    { localAddress },
  );
  if (answer.status !== 200) throw new Error(`login ${operator} failed: ${answer.status} ${answer.text}`);
  const setCookie = String(answer.headers['set-cookie']?.[0] ?? '');
  return {
    token: answer.body.token,
    csrf: answer.body.csrf,
    role: answer.body.role,
    cookie: setCookie.split(';')[0]!,
    setCookie,
  };
}

/** Adds an operator offline (`config --data`), the password through the environment. */
export async function addOperator(
  data: string,
  name: string,
  password: string,
  role: 'admin' | 'operator',
  keys: string[] = [],
): Promise<void> {
  const result = await runCli(
    [
      'config',
      '--data',
      data,
      '--create',
      'operator',
      'add',
      name,
      '--role',
      role,
      ...(keys.length ? ['--keys', keys.join(',')] : []),
      '--password-env',
      'SB_PW',
    ],
    { env: { SB_PW: password } },
  );
  if (result.code !== 0) throw new Error(`operator add ${name}: ${result.stderr}`);
}

/** Enrols an operator in TOTP offline; returns the secret from the otpauth:// URI. */
export async function enrolTotp(data: string, name: string): Promise<string> {
  const result = await runCli(['config', '--data', data, 'operator', 'totp', name]);
  if (result.code !== 0) throw new Error(`operator totp ${name}: ${result.stderr}`);
  return secretOf(result.stdout.trim());
}

export function secretOf(uri: string): string {
  const secret = new URL(uri).searchParams.get('secret');
  if (!secret) throw new Error(`no secret in ${uri}`);
  return secret;
}

export { currentTotp };

const lastStepHandedOut = new Map<string, number>();

/**
 * A TOTP code of a time step not handed out before for this secret: the server accepts each code
 * once per operator (and a step no later than one it accepted). The server takes the next step's
 * code too (its window is one step either side), so two logins go at once; a third waits for the
 * next 30 s step.
 */
export async function unusedTotp(secret: string): Promise<string> {
  for (;;) {
    const now = Math.floor(Date.now() / 30_000);
    const step = Math.max(now, (lastStepHandedOut.get(secret) ?? -1) + 1);
    if (step <= now + 1) {
      lastStepHandedOut.set(secret, step);
      return otplib.authenticator.clone({ epoch: step * 30_000 }).generate(secret);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface StreamEvent {
  event: string;
  data: any;
}

/** Reads GET /api/v1/events; every event is kept in order, and `next` waits for a matching one. */
export class EventReader {
  readonly events: StreamEvent[] = [];
  status = 0;
  private req: http.ClientRequest | undefined;
  private waiters: (() => void)[] = [];
  private ended = false;

  static open(address: string, token: string, query = ''): Promise<EventReader> {
    const reader = new EventReader();
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    return new Promise((resolve, reject) => {
      reader.req = http.get(
        {
          host,
          port,
          path: `/api/v1/events${query}`,
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          agent: false,
        },
        (res) => {
          reader.status = res.statusCode ?? 0;
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event = /^event: (.*)$/m.exec(block)?.[1];
              const data = /^data: (.*)$/m.exec(block)?.[1];
              if (event && data) reader.events.push({ event, data: JSON.parse(data) });
            }
            reader.notify();
          });
          res.on('end', () => {
            reader.ended = true;
            reader.notify();
          });
          resolve(reader);
        },
      );
      reader.req.on('error', (err) => (reader.status ? undefined : reject(err)));
    });
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first event (from index `from` on) that matches, waiting for it if need be. */
  next(
    match: (e: StreamEvent) => boolean,
    what: string,
    from = 0,
    timeoutMs = 15_000,
  ): Promise<StreamEvent & { index: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for event: ${what}`)), timeoutMs);
      const check = () => {
        const index = this.events.findIndex((e, i) => i >= from && match(e));
        if (index >= 0) {
          clearTimeout(timer);
          resolve({ ...this.events[index]!, index });
        } else if (this.ended) {
          clearTimeout(timer);
          reject(new Error(`event stream ended before: ${what}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  close(): void {
    this.req?.destroy();
  }
}

/** The configuration version a running server serves, from its /metrics. */
/** The value of one series in Prometheus text (its name and labels as printed), or undefined when absent. */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export async function configVersionServed(address: string): Promise<number> {
  const metrics = await request(address, 'GET', '/metrics');
  return seriesValue(metrics.text, 'switchboard_config_version') ?? -1;
}

/** `config --data ... set NAME VALUE`, then waits until the running server serves that version. */
export async function setSettingLive(
  server: { address: string; data: string },
  name: string,
  value: string,
): Promise<void> {
  const r = await runCli(['config', '--data', server.data, 'set', name, value]);
  if (r.code !== 0) throw new Error(`config set ${name} ${value} failed: ${r.stderr}`);
  const shown = await runCli(['config', '--data', server.data, 'show', '--json']);
  const version = (JSON.parse(shown.stdout) as { version: number }).version;
  await waitFor(
    async () => (await configVersionServed(server.address)) >= version,
    `the server to apply ${name}=${value}`,
  );
}
