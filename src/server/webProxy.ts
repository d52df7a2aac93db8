import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { splice } from '../net/splice.js';
import { parseCookies, SESSION_COOKIE } from './api/authenticate.js';
import type { ServerContext } from './context.js';
import { openFarEnd } from './controlOps.js';
import type { TlsMaterial } from './tlsFiles.js';
import { WebLinks, type WebLink } from './webLinks.js';

/** The cookie that carries a link's secret on the link's origin; never passed on to the client's app. */
export const LINK_COOKIE = '__sb_web_link';
/** The path of the entry URL, out of the way of any app's own paths. */
export const ENTRY_PATH = '/.switchboard/enter';

/** Connections the proxy holds at once; past it Node closes new ones at once. */
const MAX_PROXY_CONNECTIONS = 4096;

/** An idle pooled session closes after this long. */
const POOL_IDLE_MS = 5000;

/** Headers that belong to one hop (RFC 9110 §7.6.1), never passed through a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface WebProxyOptions {
  host: string;
  port: number;
  /** The name browsers reach the proxy by; link `L` is served at `L.<publicHost>`. */
  publicHost: string;
  tls?: TlsMaterial;
}

/** The Cookie header for the app: every cookie but the link's and the console's. */
export function appCookies(header: string | undefined): string | undefined {
  const kept = (header ?? '')
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p && !p.startsWith(`${LINK_COOKIE}=`) && !p.startsWith(`${SESSION_COOKIE}=`));
  return kept.length ? kept.join('; ') : undefined;
}

/**
 * A Set-Cookie of the app, fitted to the link's origin: a Domain attribute (naming the client's own
 * host) would make the browser drop the cookie, so it goes; a cookie named like the link's is dropped.
 */
export function fitSetCookie(value: string): string | undefined {
  if (value.trim().startsWith(`${LINK_COOKIE}=`)) return undefined;
  return value
    .split(';')
    .filter((part) => !/^\s*domain\s*=/i.test(part))
    .join(';');
}

/**
 * A Location the app sent: an absolute URL to the app's own address (as the app knows it) becomes
 * the same path on the link's origin; a relative one, or one to elsewhere, stays as it is.
 */
export function fitLocation(location: string, appHost: string, linkOrigin: string): string {
  try {
    const url = new URL(location);
    if (url.host !== appHost && url.host !== appHost.replace(/^127\.0\.0\.1:/, 'localhost:')) return location;
    return `${linkOrigin}${url.pathname}${url.search}${url.hash}`;
  } catch {
    return location;
  }
}

/**
 * A client's web page in a browser, through the server: a listener of its own on which each link
 * is its own origin (`<label>.<publicHost>`), so the proxied page never shares cookies or storage
 * with the console (another host) or with another link. Each request (and each WebSocket) goes to
 * the client's port as a relayed forward session, checked by the client's --allow-forward list,
 * counted and audited as kind `web`, within the operator's limit for that kind.
 */
export class WebProxy {
  readonly links = new WebLinks();
  private server: http.Server | undefined;
  private readonly open = new Map<string, Set<Duplex>>();
  private readonly agents = new Map<string, http.Agent>();
  private sweeper: NodeJS.Timeout | undefined;
  private scheme: string;

  constructor(
    private readonly ctx: ServerContext,
    private readonly options: WebProxyOptions,
  ) {
    this.scheme = options.tls ? 'https' : 'http';
  }

  /** Starts listening; the bound port is known after. */
  async start(): Promise<void> {
    const server = this.options.tls
      ? https.createServer({ cert: this.options.tls.cert, key: this.options.tls.key })
      : http.createServer();
    server.on('request', (req, res) => void this.onRequest(req, res));
    server.on(
      'upgrade',
      (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void this.onUpgrade(req, socket, head),
    );
    server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    // Strangers reach this port too: a bound on connections, as the main port has by address.
    server.maxConnections = MAX_PROXY_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    // A link whose console session ended (logout, expiry, revocation) loses its open connections too.
    // So does one pushed out by the operator's newer links.
    this.sweeper = setInterval(() => {
      const ended = this.links.sweep();
      for (const label of this.open.keys()) if (!this.links.has(label)) ended.push(label);
      this.endLinks(ended);
    }, 2000);
    this.sweeper.unref();
  }

  get port(): number {
    return (this.server!.address() as net.AddressInfo).port;
  }

  get address(): string {
    return `${this.options.host}:${this.port}`;
  }

  originOf(link: WebLink): string {
    return `${this.scheme}://${link.label}.${this.options.publicHost}:${this.port}`;
  }

  /** The URL the console opens: the entry, which trades its one-time secret for the link's cookie. */
  entryUrl(link: WebLink, path: string): string {
    const query = new URLSearchParams({ secret: link.entrySecret ?? '', path });
    return `${this.originOf(link)}${ENTRY_PATH}?${query}`;
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.endLinks([...this.open.keys()]);
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // Idle keep-alive connections of browsers would hold close() open.
    this.server?.closeAllConnections();
    await closed;
  }

  private endLinks(labels: string[]): void {
    for (const label of labels) {
      this.agents.get(label)?.destroy();
      this.agents.delete(label);
      for (const socket of this.open.get(label) ?? []) socket.destroy();
      this.open.delete(label);
    }
  }

  /** The link a request is for, by its Host: `<label>.<publicHost>[:port]`. */
  private linkOf(req: http.IncomingMessage): WebLink | undefined {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const suffix = `.${this.options.publicHost.toLowerCase()}`;
    if (!host.endsWith(suffix)) return undefined;
    return this.links.find(host.slice(0, -suffix.length));
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refuse = (status: number, text: string) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`${text}\n`);
    };
    const link = this.linkOf(req);
    if (!link)
      return refuse(
        404,
        'switchboard: no such web link, or its console session ended; open the page again from the console',
      );
    const url = new URL(req.url ?? '/', 'http://link');
    if (url.pathname === ENTRY_PATH) return this.enter(link, url, res, refuse);
    if (!this.links.admits(link, parseCookies(req.headers.cookie).get(LINK_COOKIE)))
      return refuse(
        403,
        'switchboard: this browser has not entered this web link; open the page again from the console',
      );
    const appHost = `127.0.0.1:${link.port}`;
    const upstream = http.request({
      agent: this.agentFor(link),
      host: '127.0.0.1',
      port: link.port,
      method: req.method,
      path: req.url,
      headers: this.appHeaders(req, link, appHost),
    });
    upstream.on('response', (answer) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (HOP_BY_HOP.has(name) || value === undefined) continue;
        if (name === 'location') headers[name] = fitLocation(String(value), appHost, this.originOf(link));
        else if (name === 'set-cookie')
          headers[name] = (value as string[]).map(fitSetCookie).filter((v): v is string => v !== undefined);
        else headers[name] = value;
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => refuse(502, `switchboard: the client's web page failed: ${err.message}`));
    // A browser that leaves mid-answer takes that session down (a finished one goes back to the pool).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /**
   * A small pool of relayed sessions per link, kept alive between requests as a browser keeps its
   * connections: a page of 30 assets takes a few sessions, not 30. A new session is opened (and
   * checked, counted, limited) only when no idle one is left; idle ones close after a few seconds.
   */
  private agentFor(link: WebLink): http.Agent {
    let agent = this.agents.get(link.label);
    if (agent) return agent;
    agent = new http.Agent({ keepAlive: true, maxSockets: 6, maxFreeSockets: 2, timeout: POOL_IDLE_MS });
    // Node's Agent takes a connection made later through the callback when this returns nothing.
    const opening = (_options: unknown, done: (err: Error | null, socket?: Duplex) => void) => {
      this.openSession(link).then(
        (far) => done(null, far),
        (err: Error) => done(err),
      );
      return undefined;
    };
    agent.createConnection = opening as unknown as typeof agent.createConnection;
    this.agents.set(link.label, agent);
    return agent;
  }

  private enter(
    link: WebLink,
    url: URL,
    res: http.ServerResponse,
    refuse: (status: number, text: string) => void,
  ): void {
    const cookie = this.links.enter(link, url.searchParams.get('secret') ?? '');
    if (!cookie)
      return refuse(
        403,
        'switchboard: this entry URL was used already or is too old; open the page again from the console',
      );
    const wanted = url.searchParams.get('path') ?? '/';
    // Only a path on this origin: never a redirect elsewhere (`//host` or a scheme).
    const path = wanted.startsWith('/') && !wanted.startsWith('//') && !wanted.includes('\\') ? wanted : '/';
    const secure = this.options.tls ? '; Secure' : '';
    res.writeHead(302, {
      location: path,
      'set-cookie': `${LINK_COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Lax${secure}`,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    });
    res.end();
  }

  /** The request's headers as the app should see them: its own Host and Origin, no hop-by-hop, no link cookie. */
  private appHeaders(req: http.IncomingMessage, link: WebLink, appHost: string): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(name) || value === undefined || name === 'cookie') continue;
      headers[name] = value;
    }
    headers.host = appHost;
    const cookies = appCookies(req.headers.cookie);
    if (cookies) headers.cookie = cookies;
    const origin = this.originOf(link);
    // An app that checks Origin (against CSRF, or on a WebSocket) sees its own.
    if (req.headers.origin === origin) headers.origin = `http://${appHost}`;
    if (typeof req.headers.referer === 'string' && req.headers.referer.startsWith(`${origin}/`))
      headers.referer = `http://${appHost}${req.headers.referer.slice(origin.length)}`;
    return headers;
  }

  /** A relayed forward session to the link's port, within the operator's `web` limit, counted and audited. */
  private async openSession(link: WebLink): Promise<Duplex> {
    const release = this.ctx.operatorSessions.take(link.operator, 'web');
    try {
      const target = { kind: 'forward' as const, port: link.port };
      const { entry, far } = await openFarEnd(this.ctx, link.clientId, link.keys, target, link.operator);
      far.once('close', release);
      this.ctx.broker.track(far, {
        clientId: entry.id,
        clientName: entry.name,
        server: entry.server,
        operator: link.operator,
        target,
        kind: 'web',
      });
      let sockets = this.open.get(link.label);
      if (!sockets) this.open.set(link.label, (sockets = new Set()));
      sockets.add(far);
      far.once('close', () => sockets.delete(far));
      far.on('error', () => far.destroy());
      return far;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** A WebSocket (or any upgrade) of the page: the request goes to the app as is, then bytes both ways. */
  private async onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    socket.on('error', () => socket.destroy());
    const link = this.linkOf(req);
    if (!link) return refuse('404 Not Found');
    if (!this.links.admits(link, parseCookies(req.headers.cookie).get(LINK_COOKIE))) return refuse('403 Forbidden');
    let far: Duplex;
    try {
      far = await this.openSession(link);
    } catch {
      return refuse('502 Bad Gateway');
    }
    if (socket.destroyed) return void far.destroy();
    const appHost = `127.0.0.1:${link.port}`;
    const headers = this.appHeaders(req, link, appHost);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers))
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
    lines.push('connection: Upgrade', `upgrade: ${req.headers.upgrade ?? 'websocket'}`);
    far.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) far.write(head);
    this.open.get(link.label)?.add(socket);
    socket.once('close', () => this.open.get(link.label)?.delete(socket));
    splice(socket, far);
  }
}
