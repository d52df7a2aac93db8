import { readdirSync, readFileSync } from 'node:fs';

/**
 * How many file descriptors a server may spend on what. Every client is one socket, and a process
 * past its file limit cannot accept anything at all: libuv then accepts and drops each new
 * connection, so controls, cluster links and /metrics go silent with the clients. So clients get
 * at most `maxClients` sockets, and the sockets accepted in all (controls, cluster links, scrapes,
 * sessions' data connections, half-open handshakes) stop short of the limit, leaving room for the
 * files and outgoing connections the server opens itself. Pure: the figures are passed in.
 */
export interface FileBudget {
  /** The process's open-file limit (RLIMIT_NOFILE, soft), if known. */
  fileLimit: number | undefined;
  /** Sockets the listener accepts at most, all kinds together. */
  maxSockets: number;
  /** Client channels held at most (connected clients and those still in their hello). */
  maxClients: number;
  /** Why maxClients is what it is, for the startup log. */
  source: 'flag' | 'file-limit' | 'flag-capped' | 'unknown-limit';
}

/** Files kept for what the server opens itself: its store, outgoing cluster links and session dials. */
export const OWN_FILES = 32;
/** Sockets kept for controls, cluster links, scrapes and sessions: a tenth of the limit, at least this many. */
export const MIN_RESERVE = 64;
export const RESERVE_SHARE = 0.1;
/** When the limit cannot be read (not Linux): no cap on sockets, and this many clients by default. */
export const UNKNOWN_LIMIT_MAX_CLIENTS = 10_000;

export function fileBudget(fileLimit: number | undefined, filesInUse: number, maxClientsFlag?: number): FileBudget {
  if (fileLimit === undefined)
    return {
      fileLimit,
      maxSockets: Infinity,
      maxClients: maxClientsFlag ?? UNKNOWN_LIMIT_MAX_CLIENTS,
      source: maxClientsFlag === undefined ? 'unknown-limit' : 'flag',
    };
  const maxSockets = Math.max(1, fileLimit - filesInUse - OWN_FILES);
  const reserve = Math.max(MIN_RESERVE, Math.floor(fileLimit * RESERVE_SHARE));
  const fromLimit = Math.max(1, maxSockets - reserve);
  if (maxClientsFlag === undefined) return { fileLimit, maxSockets, maxClients: fromLimit, source: 'file-limit' };
  // A flag above what the limit allows would bring back the silent server: it is capped, with a warning.
  if (maxClientsFlag > fromLimit) return { fileLimit, maxSockets, maxClients: fromLimit, source: 'flag-capped' };
  return { fileLimit, maxSockets, maxClients: maxClientsFlag, source: 'flag' };
}

/** The soft "Max open files" of /proc/self/limits (Node raises it to the hard limit at start). */
export function parseOpenFileLimit(limitsText: string): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limitsText);
  if (!m || m[1] === 'unlimited') return undefined;
  return Number(m[1]);
}

/** This process's file limit and files open now, where /proc tells them. */
export function readFileUse(): { fileLimit: number | undefined; filesInUse: number } {
  try {
    return {
      fileLimit: parseOpenFileLimit(readFileSync('/proc/self/limits', 'utf8')),
      filesInUse: readdirSync('/proc/self/fd').length,
    };
  } catch {
    return { fileLimit: undefined, filesInUse: 0 };
  }
}
