import type { Duplex } from 'node:stream';
import type { SessionTarget } from '../protocol/messages.js';
import { ControlClient, type ControlOptions } from './controlClient.js';

/** What a forward needs from a control: sessions, one at a time or many at once. */
export interface SessionOpener {
  open(client: string, target: SessionTarget): Promise<Duplex>;
}

/**
 * A control channel that dials again (the gateway, then the secondary) once the last one has closed,
 * so that a long-running `control forward` outlives a failover or a restart of its server. It dials
 * only when a session is wanted: an idle forward costs nothing while the cluster heals.
 */
export class ReconnectingControl implements SessionOpener {
  private dialing: Promise<ControlClient> | undefined;

  constructor(
    private current: ControlClient,
    private readonly options: ControlOptions,
  ) {}

  async open(client: string, target: SessionTarget): Promise<Duplex> {
    const control = await this.control();
    try {
      return await control.open(client, target);
    } catch (err) {
      // The channel died under this request (its server went away): once more, on a fresh one.
      if (!control.closed) throw err;
      return (await this.control()).open(client, target);
    }
  }

  private control(): Promise<ControlClient> {
    if (!this.current.closed) return Promise.resolve(this.current);
    // One dial for every session that asks meanwhile.
    this.dialing ??= ControlClient.connect(this.options)
      .then((fresh) => (this.current = fresh))
      .finally(() => (this.dialing = undefined));
    return this.dialing;
  }

  close(): void {
    this.current.close();
  }
}
