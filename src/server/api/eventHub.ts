import type { DirectoryEntry } from '../directory.js';
import type { ServerInfo } from '../../protocol/messages.js';
import type { ServerContext } from '../context.js';
import type { VisibleKeys } from '../controlOps.js';
import { toClientView } from './clientView.js';

export type HubEvent =
  | { type: 'client-up'; data: ReturnType<typeof toClientView>; key: string }
  | { type: 'client-down'; data: { id: string; server: string }; key: string }
  | { type: 'servers'; data: ServerInfo[] };

export interface Subscriber {
  keys: VisibleKeys;
  send(event: HubEvent): void;
  /** Checked every tick: false ends the subscription (session expired, operator changed). */
  alive(): boolean;
  close(): void;
}

/** How often the server table is compared with what subscribers last saw. */
const SERVERS_TICK_MS = 1000;

/**
 * Live changes for the console: clients come and go (from the directory's own events, so every role's
 * path is covered), and the Servers tab. A server's row changes for many reasons (a member links,
 * reports its load, drains; the config changes), so rather than hook each, the table is recomputed
 * each second while anyone listens and sent when it differs. No subscriber, no timer, no listener.
 */
export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private lastServers = '';
  private readonly onUp = (entry: DirectoryEntry) =>
    this.publish({ type: 'client-up', data: toClientView(entry), key: entry.key });
  private readonly onDown = (entry: DirectoryEntry) =>
    this.publish({ type: 'client-down', data: { id: entry.id, server: entry.server }, key: entry.key });

  constructor(private readonly ctx: Pick<ServerContext, 'directory' | 'behaviour'>) {}

  get size(): number {
    return this.subscribers.size;
  }

  subscribe(sub: Subscriber): () => void {
    if (this.subscribers.size === 0) this.start();
    this.subscribers.add(sub);
    sub.send({ type: 'servers', data: this.ctx.behaviour.servers() });
    return () => this.unsubscribe(sub);
  }

  private unsubscribe(sub: Subscriber): void {
    if (!this.subscribers.delete(sub)) return;
    if (this.subscribers.size === 0) this.stop();
  }

  private start(): void {
    this.ctx.directory.on('up', this.onUp);
    this.ctx.directory.on('down', this.onDown);
    this.lastServers = JSON.stringify(this.ctx.behaviour.servers());
    this.timer = setInterval(() => this.tick(), SERVERS_TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    this.ctx.directory.off('up', this.onUp);
    this.ctx.directory.off('down', this.onDown);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Ends every subscription (server stopping). */
  closeAll(): void {
    for (const sub of [...this.subscribers]) {
      this.unsubscribe(sub);
      sub.close();
    }
  }

  private tick(): void {
    for (const sub of [...this.subscribers]) {
      if (!sub.alive()) {
        this.unsubscribe(sub);
        sub.close();
      }
    }
    const servers = this.ctx.behaviour.servers();
    const text = JSON.stringify(servers);
    if (text === this.lastServers) return;
    this.lastServers = text;
    this.publish({ type: 'servers', data: servers });
  }

  private publish(event: HubEvent): void {
    for (const sub of this.subscribers) {
      if ('key' in event && sub.keys && !sub.keys.has(event.key)) continue;
      sub.send(event);
    }
  }
}
