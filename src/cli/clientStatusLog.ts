import type { ClientStatus, StatusDetail } from '../client/agent.js';
import { failureAdvice } from '../client/failureAdvice.js';

/** A refusal that goes on is warned about again at most this often (the retries between go to debug). */
export const REFUSAL_WARN_INTERVAL_MS = 5 * 60_000;

export interface LogDecision {
  level: 'debug' | 'info' | 'warn';
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * How the client logs its status changes. A refusal that retrying will not cure (wrong key,
 * refused identity, certificate mismatch) is a warning that says what to fix, once, then again
 * only every `warnIntervalMs` while it lasts; the retries in between go to debug, so that a
 * machine retrying for ever does not fill its log. Pure: time is passed in.
 */
export class ClientStatusLog {
  private readonly lastWarned = new Map<string, number>();
  private refused = false;

  constructor(private readonly warnIntervalMs = REFUSAL_WARN_INTERVAL_MS) {}

  decide(status: ClientStatus, detail: StatusDetail, now: number): LogDecision {
    const fields = { status, ...detail };
    const fix = status === 'waiting' ? failureAdvice(detail.code) : undefined;
    if (fix) {
      this.refused = true;
      const last = this.lastWarned.get(detail.code!);
      if (last !== undefined && now - last < this.warnIntervalMs)
        return { level: 'debug', msg: 'client refused', fields: { ...fields, fix } };
      this.lastWarned.set(detail.code!, now);
      return { level: 'warn', msg: `client refused: ${fix}`, fields: { ...fields, fix } };
    }
    if (status === 'connected') {
      this.refused = false;
      this.lastWarned.clear();
    }
    // The attempt after a refusal is most likely refused again: not worth a line of its own.
    if (this.refused && status === 'connecting') return { level: 'debug', msg: `client ${status}`, fields };
    if (status === 'waiting') this.refused = false;
    return { level: 'info', msg: `client ${status}`, fields };
  }
}
