import type { Duplex } from 'node:stream';
import { ErrorCodes, type SwitchboardError } from '../protocol/errors.js';
import type { SessionTarget } from '../protocol/messages.js';
import { ControlClient, type ControlOptions } from './controlClient.js';

/** What a forward needs from a control: sessions, one at a time or many at once. */
export interface SessionOpener {
  open(client: string, target: SessionTarget): Promise<Duplex>;
}

/**
 * Refusals that dialling again with the same credentials cannot cure: the operator was revoked,
 * the password or key is no longer right, or the operator may not use this key.
 */
const FINAL_CODES = new Set<string>([
  ErrorCodes.OPERATOR_REVOKED,
  ErrorCodes.BAD_KEY,
  ErrorCodes.BAD_LOGIN,
  ErrorCodes.FORBIDDEN,
  ErrorCodes.LOGIN_REQUIRED,
]);

function isFinal(err: Error): boolean {
  return FINAL_CODES.has((err as SwitchboardError).code);
}

/**
 * A control channel that dials again (the gateway, then the secondary) once the last one has closed,
 * so that a long-running `control forward` outlives a failover or a restart of its server. It dials
 * only when a session is wanted: an idle forward costs nothing while the cluster heals. A channel
 * closed, or a dial refused, for a reason that dialling again cannot cure (see FINAL_CODES) ends
 * it: `onFinal` hears why, and every later `open` fails at once instead of trying again.
 */
export class ReconnectingControl implements SessionOpener {
  private dialing: Promise<ControlClient> | undefined;
  private final: Error | undefined;

  constructor(
    private current: ControlClient,
    private readonly options: ControlOptions,
    private readonly onFinal: (err: Error) => void = () => undefined,
  ) {
    this.watch(current);
  }

  async open(client: string, target: SessionTarget): Promise<Duplex> {
    const control = await this.control();
    try {
      return await control.open(client, target);
    } catch (err) {
      // The channel died under this request (its server went away): once more, on a fresh one.
      if (!control.closed || this.final) throw err;
      return (await this.control()).open(client, target);
    }
  }

  private control(): Promise<ControlClient> {
    if (this.final) return Promise.reject(this.final);
    if (!this.current.closed) return Promise.resolve(this.current);
    // One dial for every session that asks meanwhile.
    this.dialing ??= ControlClient.connect(this.options)
      .then((fresh) => {
        this.watch(fresh);
        return (this.current = fresh);
      })
      .catch((err: Error) => {
        if (isFinal(err)) this.end(err);
        throw err;
      })
      .finally(() => (this.dialing = undefined));
    return this.dialing;
  }

  private watch(control: ControlClient): void {
    control.onClosed((err) => {
      if (isFinal(err)) this.end(err);
    });
  }

  private end(err: Error): void {
    if (this.final) return;
    this.final = err;
    this.onFinal(err);
  }

  close(): void {
    this.current.close();
  }
}
