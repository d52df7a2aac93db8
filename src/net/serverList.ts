import { returnOrder } from './returnOrder.js';

/**
 * The servers a dialler tries, and in which order: the one policy of the agent, a member and a
 * control (as nats.js's `Servers` is for its pool). The primary first; after each failed attempt
 * another server in turn, since the primary may be lost; after an attempt that worked, the primary
 * first again, unless the primary is the server that was lost. The other servers are the secondary
 * and, for an agent that a welcome told them, the members: each agent tries the members in its own
 * order (returnOrder.ts, by a hash of its id), the secondary after them, so the clients of a lost
 * primary return to every member at once, not to the secondary that is taking over. A server never
 * dials itself (the secondary's own member side only ever follows the primary). Pure: the caller
 * says how each attempt went.
 */
export class ServerList {
  private failures = 0;
  private members: readonly string[] = [];
  /** The other servers in this dialler's order; computed when the addresses change, not per attempt. */
  private others: string[] = [];

  constructor(
    private primaryAddress: string,
    private secondaryAddress: string | undefined,
    private readonly self?: string,
    /** What spreads this dialler's order among the others (an agent's id); one order for all without it. */
    private readonly spreadKey = '',
  ) {
    this.reorder();
  }

  get primary(): string {
    return this.primaryAddress;
  }

  get secondary(): string | undefined {
    return this.secondaryAddress;
  }

  /** Where to dial now: the primary after a success and after every other failure, else the next of the others. */
  current(): string {
    if (this.others.length === 0 || this.failures % 2 === 0) return this.primaryAddress;
    return this.others[((this.failures - 1) / 2) % this.others.length]!;
  }

  /** Every server once, primary first: for a caller that tries each in turn at once. */
  all(): string[] {
    return [this.primaryAddress, ...this.others];
  }

  /** The last attempt failed: the next goes to another server. */
  failed(): void {
    this.failures++;
  }

  /** The last attempt worked (or the caller starts afresh): the next goes to the primary. */
  succeeded(): void {
    this.failures = 0;
  }

  /**
   * A connection that worked, to `server`, has ended. Lost from the primary, the next attempt goes
   * to the next of the others, as after a failure: a primary that has just dropped its clients is
   * the server least likely to take them back, and a crashed host may not even refuse, holding each
   * of them for a connect timeout before they try elsewhere. Lost from any other, the primary next.
   */
  lost(server: string): void {
    this.failures = server === this.primaryAddress && this.others.length > 0 ? 1 : 0;
  }

  /**
   * What the cluster said its addresses are now (a welcome, the primary's answer, the table).
   * `members` are the servers besides these two a client may return to; a server that names none
   * (one before 0.3) leaves those we knew.
   */
  update(primary: string, secondary: string | undefined, members?: readonly string[]): void {
    this.primaryAddress = primary;
    this.secondaryAddress = secondary;
    if (members) this.members = members;
    this.reorder();
  }

  setSecondary(secondary: string | undefined): void {
    this.secondaryAddress = secondary;
    this.reorder();
  }

  private reorder(): void {
    const elsewhere = (a: string | undefined): a is string =>
      a !== undefined && a !== this.self && a !== this.primaryAddress;
    const secondary = [this.secondaryAddress].filter(elsewhere);
    const members = [...new Set(this.members)].filter((a) => elsewhere(a) && a !== this.secondaryAddress);
    // The members in this dialler's own order, then the secondary: a lost primary's clients spare
    // the server taking over from it, which has the members' lists, the controls and every new
    // placement to serve. With no members (every control and member, an agent of an older
    // cluster), the secondary alone.
    this.others = [...(members.length <= 1 ? members : returnOrder(this.spreadKey, members)), ...secondary];
  }
}
