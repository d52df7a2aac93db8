import { api, ApiFailure, type Me } from './api.js';
import { nextStep, type Probe } from './reconnectPlan.js';

/**
 * Keeps a logged-in console page on the cluster's acting primary (decisions in reconnectPlan.ts):
 * when its live stream drops, it asks its server who it is, with backoff and a visible
 * "reconnecting" line, and when that server stays down or names another primary, the page moves
 * there and carries its login along with a handover ticket (src/server/api/handoverTicket.ts). The
 * ticket is kept fresh while connected, in this page's memory only: the server it came from may be
 * gone by the time the page needs it.
 */

interface Handover {
  ticket: string;
  /** By this page's clock, with a margin. */
  validUntil: number;
  consoles: string[];
}

interface HandoverAnswer {
  ticket: string;
  expiresInMs: number;
  consoles: string[];
}

export interface ConnectionHooks {
  /** The page's server answers again as the acting primary, with this login. */
  resumed(me: Me): void;
  /** The login no longer holds (expired, logged out, ticket refused): show the login page. */
  loggedOut(): void;
}

const REFRESH_MS = 30_000;
const MARGIN_MS = 5_000;

let hooks: ConnectionHooks = { resumed: () => undefined, loggedOut: () => undefined };
let handover: Handover | undefined;
let refreshTimer: ReturnType<typeof setInterval> | undefined;
let reconnecting = false;
const reconnectedListeners = new Set<() => void>();
/** The server this page fled (from the fragment it arrived with), and when it arrived. */
let left: { address: string; at: number } | undefined;

export function initConnection(h: ConnectionHooks): void {
  hooks = h;
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && refreshTimer !== undefined) void refreshHandover();
  });
}

function banner(text: string | undefined): void {
  const el = document.getElementById('connection');
  if (!el) return;
  el.textContent = text ?? '';
  el.hidden = text === undefined;
}

async function refreshHandover(): Promise<void> {
  try {
    const answer = await api<HandoverAnswer>('POST', '/handover');
    handover = {
      ticket: answer.ticket,
      validUntil: Date.now() + answer.expiresInMs - MARGIN_MS,
      consoles: answer.consoles,
    };
  } catch {
    // The old ticket stays; a lost server is the live stream's to notice.
  }
}

/** While logged in: a fresh ticket now and every 30 s. */
export function keepHandover(): void {
  stopHandover();
  void refreshHandover();
  refreshTimer = setInterval(() => void refreshHandover(), REFRESH_MS);
}

/** At logout: no ticket outlives the login in this page. */
export function stopHandover(): void {
  clearInterval(refreshTimer);
  refreshTimer = undefined;
  handover = undefined;
}

/** Called by live streams once the page's server answers again; returns the unsubscribe function. */
export function onReconnected(listener: () => void): () => void {
  reconnectedListeners.add(listener);
  return () => reconnectedListeners.delete(listener);
}

async function probe(): Promise<{ probe: Probe; me?: Me }> {
  try {
    return { probe: { kind: 'ok' }, me: await api<Me>('GET', '/session') };
  } catch (err) {
    if (!(err instanceof ApiFailure)) return { probe: { kind: 'down' } };
    if (err.status === 401) return { probe: { kind: 'logged-out' } };
    if (err.status === 421 && typeof err.detail.primary === 'string')
      return { probe: { kind: 'elsewhere', primary: err.detail.primary } };
    return { probe: { kind: 'down' } };
  }
}

/** Goes to the console on `to`, with a ticket for this login when the page holds a valid one. */
function moveTo(to: string, fled: boolean): void {
  banner(`Moving to ${to}…`);
  const params = new URLSearchParams({ moved: '1' });
  if (handover && Date.now() < handover.validUntil) params.set('handover', handover.ticket);
  if (fled) params.set('left', location.host);
  params.set('to', location.hash.startsWith('#/') ? location.hash : '#/clients');
  location.assign(`${location.protocol}//${to}/console/#${params}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The page's server stopped answering its live stream, or the page just arrived from another: find
 * the acting primary again. Runs once at a time; the page's live streams reopen when it is back.
 */
export async function connectionLost(): Promise<void> {
  if (reconnecting) return;
  reconnecting = true;
  // A move leaves the flag set: the page is unloading, and nothing else should start meanwhile.
  for (let failures = 0; ; failures++) {
    const { probe: result, me } = await probe();
    const step = nextStep({
      probe: result,
      failures,
      here: location.host,
      consoles: handover?.consoles ?? [],
      left: left && { address: left.address, agoMs: Date.now() - left.at },
    });
    if (step.kind === 'resume') {
      banner(undefined);
      // This server acts now: when it names another primary later, that is a failback, to follow at once.
      left = undefined;
      reconnecting = false;
      // Only the streams that were open: a page the hook shows now opens its own and loads.
      const listeners = [...reconnectedListeners];
      hooks.resumed(me!);
      for (const listener of listeners) listener();
      return;
    }
    if (step.kind === 'login') {
      banner(undefined);
      stopHandover();
      reconnecting = false;
      return hooks.loggedOut();
    }
    if (step.kind === 'move') {
      // A server that answers (it stepped down) gives a fresh ticket; a dead one leaves the last.
      if (result.kind === 'elsewhere') await refreshHandover();
      return moveTo(step.to, result.kind === 'down');
    }
    banner(
      step.why === 'down'
        ? `Lost the connection to ${location.host}; reconnecting…`
        : `Reconnecting… waiting for ${location.host} to take over as primary`,
    );
    await sleep(step.ms);
  }
}

/**
 * On arrival from another server (`#moved=1&handover=...&left=...&to=#/...`): takes the fragment out
 * of the address bar and history at once, redeems the ticket for this server's cookie, and looks for
 * the acting primary from here. False when the page did not arrive that way.
 */
export function arriveFromHandover(): boolean {
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.has('moved')) return false;
  const to = params.get('to') ?? '';
  history.replaceState(
    null,
    '',
    `${location.pathname}${location.search}${/^#\/[\w/?=&%.-]*$/.test(to) ? to : '#/clients'}`,
  );
  const fled = params.get('left');
  if (fled) left = { address: fled, at: Date.now() };
  const ticket = params.get('handover');
  banner('Reconnecting…');
  void (async () => {
    if (ticket) await api('POST', '/handover/redeem', { ticket }).catch(() => undefined);
    keepHandover();
    await connectionLost();
  })();
  return true;
}
