import type { Client, ServerInfo } from './api.js';
import { connectionLost, onReconnected } from './connection.js';
import { SHORT_LIVED_STREAM_MS, streamRetryDelay } from './reconnectPlan.js';

/** One change of a `clients` event, in the order they happened. */
type ClientChange = { up: Client } | { down: { id: string; server: string } };

export interface LiveHandlers {
  clientUp?(client: Client): void;
  clientDown?(id: string): void;
  servers?(rows: ServerInfo[]): void;
  /**
   * The stream is open, the first time or again after a drop: the server sends every change from
   * now on, so load what is shown now. Loading before the stream is open loses what changes in
   * between (a fleet returning after a failover arrives by the thousand a second).
   */
  opened?(): void;
}

/**
 * The server's event stream (GET /api/v1/events). When it drops, the page's connection
 * (connection.ts) finds the acting primary again, here or on another server; the stream then
 * reopens and the page reloads its list, since events sent meanwhile are gone.
 */
export function subscribe(handlers: LiveHandlers): () => void {
  let source: EventSource | undefined;
  /** Streams in a row that failed at once (SHORT_LIVED_STREAM_MS), and the wait they ask for. */
  let quickFailures = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    let openedAt: number | undefined;
    // Batched: a burst of client changes is one event to dispatch, not thousands (eventRoutes.ts).
    const stream = new EventSource('/api/v1/events?batch=1');
    source = stream;
    // The server subscribes the stream before its first byte: open means no change is missed from here.
    stream.addEventListener('open', () => {
      openedAt = Date.now();
      handlers.opened?.();
    });
    stream.addEventListener('clients', (e) => {
      const changes = JSON.parse((e as MessageEvent<string>).data) as ClientChange[];
      for (const change of changes)
        if ('up' in change) handlers.clientUp?.(change.up);
        else handlers.clientDown?.(change.down.id);
    });
    stream.addEventListener('servers', (e) =>
      handlers.servers?.(JSON.parse((e as MessageEvent<string>).data) as ServerInfo[]),
    );
    // EventSource would retry on its own, but not after a refusal (421 once the server stepped
    // down, 401), and never elsewhere: the connection decides instead.
    stream.addEventListener('error', () => {
      stream.close();
      if (source !== stream) return;
      source = undefined;
      const atOnce = openedAt === undefined || Date.now() - openedAt < SHORT_LIVED_STREAM_MS;
      quickFailures = atOnce ? quickFailures + 1 : 0;
      retryTimer = setTimeout(() => void connectionLost(), streamRetryDelay(quickFailures));
    });
  };
  open();
  const off = onReconnected(() => {
    if (!source) open();
  });
  return () => {
    off();
    clearTimeout(retryTimer);
    source?.close();
    source = undefined;
  };
}
