import type { ClientInfo } from '../protocol/messages.js';

/** The console's only way to the server: the REST API, with the CSRF token on every change. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

/** For a change not sent as JSON (a file upload): the same token, in the same header. */
export function csrfHeaders(): Record<string, string> {
  return csrf ? { 'x-csrf-token': csrf } : {};
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (res.status === 204) return undefined as T;
  const parsed = (await res.json().catch(() => undefined)) as
    { error?: { code: string; message: string } & Record<string, unknown> } | undefined;
  if (!res.ok) {
    const error = parsed?.error;
    throw new ApiFailure(
      res.status,
      error?.code ?? 'SB_ERR_INTERNAL',
      error?.message ?? `${res.status} ${res.statusText}`,
      error ?? {},
    );
  }
  return parsed as T;
}

export const enc = encodeURIComponent;

/** The shapes the API answers (see src/server/api). */
export interface Me {
  operator: string;
  role: 'admin' | 'operator';
  keys: string[];
  csrf: string;
  expiresAt: string;
  server: string;
  /** The server's key pin when it serves TLS (`spki:sha256/...`). */
  tlsPin?: string;
}

/** A client as the REST API lists it: what a control sees, plus the client's own policy. */
export interface Client extends ClientInfo {
  allowExec: boolean;
  allowForward: number[];
}

// The Servers tab shows exactly what `servers --json` prints: one type for both (erased at build).
export type { ServerInfo } from '../protocol/messages.js';
