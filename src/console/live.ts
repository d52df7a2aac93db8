import type { Client, ServerInfo } from './api.js';

export interface LiveHandlers {
  clientUp?(client: Client): void;
  clientDown?(id: string): void;
  servers?(rows: ServerInfo[]): void;
  /** The stream (re)connected: events may have been missed, so reload what is shown. */
  reconnected?(): void;
}

/**
 * The server's event stream (GET /api/v1/events). EventSource reconnects by itself; after a
 * reconnect the page reloads its list, since events sent meanwhile are gone.
 */
export function subscribe(handlers: LiveHandlers): () => void {
  const source = new EventSource('/api/v1/events');
  let opened = false;
  source.addEventListener('open', () => {
    if (opened) handlers.reconnected?.();
    opened = true;
  });
  source.addEventListener('client-up', (e) =>
    handlers.clientUp?.(JSON.parse((e as MessageEvent<string>).data) as Client),
  );
  source.addEventListener('client-down', (e) =>
    handlers.clientDown?.((JSON.parse((e as MessageEvent<string>).data) as { id: string }).id),
  );
  source.addEventListener('servers', (e) =>
    handlers.servers?.(JSON.parse((e as MessageEvent<string>).data) as ServerInfo[]),
  );
  return () => source.close();
}
