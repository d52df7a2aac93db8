/**
 * The servers a dialler tries, and in which order: the one policy of the agent, a member and a
 * control (as nats.js's `Servers` is for its pool). The primary first; after each failed attempt
 * the secondary in turn, since it may be standing in for a lost primary; after an attempt that
 * worked, the primary first again. A server never dials itself (the secondary's own member side
 * only ever follows the primary). Pure: the caller says how each attempt went.
 */
export class ServerList {
  private failures = 0;

  constructor(
    private primaryAddress: string,
    private secondaryAddress: string | undefined,
    private readonly self?: string,
  ) {}

  get primary(): string {
    return this.primaryAddress;
  }

  get secondary(): string | undefined {
    return this.secondaryAddress;
  }

  /** Where to dial now. */
  current(): string {
    const other = this.secondaryAddress;
    if (!other || other === this.self || this.failures % 2 === 0) return this.primaryAddress;
    return other;
  }

  /** Every server once, primary first: for a caller that tries each in turn at once. */
  all(): string[] {
    const other = this.secondaryAddress;
    return other && other !== this.self && other !== this.primaryAddress
      ? [this.primaryAddress, other]
      : [this.primaryAddress];
  }

  /** The last attempt failed: the next goes to the other server. */
  failed(): void {
    this.failures++;
  }

  /** The last attempt worked (or the caller starts afresh): the next goes to the primary. */
  succeeded(): void {
    this.failures = 0;
  }

  /** What the cluster said its addresses are now (a welcome, the primary's answer, the table). */
  update(primary: string, secondary: string | undefined): void {
    this.primaryAddress = primary;
    this.secondaryAddress = secondary;
  }

  setSecondary(secondary: string | undefined): void {
    this.secondaryAddress = secondary;
  }
}
