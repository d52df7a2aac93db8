import { readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readVendorFiles } from './consoleVendor.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Pages and styles are shipped as they are; the scripts are compiled from TypeScript by `tsc`. */
const STATIC_DIRS = [join(here, '..', '..', '..', 'src', 'console', 'static'), join(here, '..', 'console')];

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

/**
 * The console's security headers: scripts and styles only from this origin (no inline script, so an
 * injected string cannot run), images also from data: URLs (the TOTP QR code), no framing.
 */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * Sent only over TLS (browsers ignore it on plain HTTP, and a plain answer must not claim it): the
 * browser then never uses plain HTTP for this host for a year, so a typed http:// URL or a
 * downgrading man in the middle cannot show the login page in clear.
 */
export const HSTS: Readonly<Record<string, string>> = { 'strict-transport-security': 'max-age=31536000' };

/** A file name the console may ask for: flat, no dots but the extension, so no path escapes. */
const FILE = /^[a-zA-Z0-9_-]+\.(html|css|js|svg|png)$/;

/** A refusal is a JSON error with a stable code, like everywhere else on the port. */
function refuse(
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
    ...CONSOLE_HEADERS,
  });
  res.end(text);
}

/**
 * Serves /console/ from memory. The files are a small fixed set that changes only with a new build,
 * so they are all read once, when the server starts, by listing the directories: a request can only
 * look a name up, never add one, however many different names strangers ask for.
 */
export class ConsoleFiles {
  private readonly files = new Map<string, Buffer>();

  /** `vendor`: the libraries under vendor/ (consoleVendor.ts); by default, with the console's own directories only. */
  constructor(
    dirs: readonly string[] = STATIC_DIRS,
    vendor: ReadonlyMap<string, Buffer> = dirs === STATIC_DIRS ? readVendorFiles() : new Map(),
  ) {
    // Libraries the pages load (xterm.js, noVNC), under vendor/: see consoleVendor.ts.
    for (const [name, body] of vendor) this.files.set(name, body);
    for (const dir of dirs) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue; // a directory that is not there (a build without the console) serves nothing
      }
      for (const name of names) {
        // The first directory that has a name wins, as when each request searched them in order.
        if (!FILE.test(name) || this.files.has(name)) continue;
        try {
          this.files.set(name, readFileSync(join(dir, name)));
        } catch {
          /* a subdirectory with a file-like name, or unreadable: not served */
        }
      }
    }
  }

  /** How many files are served: fixed at start. */
  get size(): number {
    return this.files.size;
  }

  /** `rest` is the path after /console/. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, rest: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return refuse(res, 405, 'SB_ERR_NOT_FOUND', `${req.method} is not allowed on the console`, {
        allow: 'GET, HEAD',
      });
    const name = rest === '' ? 'index.html' : rest;
    const body = this.files.get(name);
    if (!body) return refuse(res, 404, 'SB_ERR_NOT_FOUND', `no console file ${JSON.stringify(name.slice(0, 100))}`);
    const ext = name.slice(name.lastIndexOf('.') + 1);
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': body.length,
      // Revalidate each time: a new build must never run against a stale cached script.
      'cache-control': 'no-cache',
      ...CONSOLE_HEADERS,
      ...((req.socket as { encrypted?: boolean } | undefined)?.encrypted ? HSTS : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
