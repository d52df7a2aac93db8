/**
 * The address the n-th load-generator process dials from (from 0): 127.73.x.y, apart from the
 * servers' 127.0.x.y. A fleet's machines each have their own address; thousands of clients dialling
 * from 127.0.0.1 instead fill the kernel's ephemeral ports towards each server (28,000 per address
 * pair), and long before that every connect pays for the search for a free port: at 14,000
 * connections to one server, ~0.7 ms of system time each, against 0.04 ms from a fresh address.
 * Not many more than a generator's 5,000 to an address either: a dial from a chosen address binds
 * it first, and that search costs 1 ms once 8,000 sockets hold the address (0.04 ms at 4,000).
 */
export function generatorAddress(n: number): string {
  return `127.73.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}
