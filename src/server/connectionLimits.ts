/**
 * Open connections per remote address, so one address (a flood, a broken script) cannot take all
 * the sockets of the server. 127.0.0.1 and ::1 are exempt: local tools and load generators share
 * them. Other loopback addresses (127.x.y.z) count, so tests can play remote hosts.
 */
export class ConnectionLimits {
  private readonly open = new Map<string, number>();

  constructor(private maxPerAddress: number) {}

  setMax(n: number): void {
    this.maxPerAddress = n;
  }

  /** Counts a new connection in; false when the address is at its limit. */
  admit(address: string): boolean {
    if (isLoopback(address)) return true;
    const n = this.open.get(address) ?? 0;
    if (n >= this.maxPerAddress) return false;
    this.open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    if (isLoopback(address)) return;
    const n = (this.open.get(address) ?? 1) - 1;
    if (n <= 0) this.open.delete(address);
    else this.open.set(address, n);
  }

  count(address: string): number {
    return this.open.get(address) ?? 0;
  }
}

/** 127.0.0.1 and ::1: local tools and load generators, exempt from per-address limits. */
export function isLoopback(address: string): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}
