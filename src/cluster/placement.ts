/** A server as placement sees it. */
export interface Candidate {
  address: string;
  weight: number;
  enabled: boolean;
  healthy: boolean;
  /** Clients it holds, plus those sent its way that have not arrived yet. */
  clients: number;
}

/**
 * Picks the server for an arriving client: among healthy, enabled servers with a positive weight,
 * the one whose clients/weight would be lowest after taking it. Ties go to the higher weight, then
 * to the lower address, so the choice is deterministic. Undefined when no server can take it.
 */
export function chooseServer(candidates: readonly Candidate[]): Candidate | undefined {
  let best: Candidate | undefined;
  let bestLoad = Infinity;
  for (const c of candidates) {
    if (!c.enabled || !c.healthy || c.weight <= 0) continue;
    const load = (c.clients + 1) / c.weight;
    if (
      load < bestLoad ||
      (load === bestLoad && best && (c.weight > best.weight || (c.weight === best.weight && c.address < best.address)))
    ) {
      best = c;
      bestLoad = load;
    }
  }
  return best;
}

/**
 * At most this many placements are pending at once. The ids are chosen by whoever holds a key (one
 * per placement request), so the TTL alone bounds the table only by the arrival rate; past this,
 * the oldest are forgotten (they only count a little less toward their server's load).
 */
export const MAX_PENDING_PLACEMENTS = 100_000;

/**
 * Clients placed on a server (redirected there, or kept by the placing server itself) but not yet
 * reported there. Without them, a burst of arrivals would all go to the same server before its
 * count caught up. An entry lapses when the client
 * shows up anywhere, or after `ttlMs` (it went elsewhere, or gave up).
 */
export class PendingPlacements {
  private readonly byClient = new Map<string, { server: string; at: number }>();
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly ttlMs = 15_000,
    private readonly max = MAX_PENDING_PLACEMENTS,
  ) {}

  get size(): number {
    return this.byClient.size;
  }

  add(clientId: string, server: string, now: number): void {
    this.settle(clientId);
    this.byClient.set(clientId, { server, at: now });
    this.counts.set(server, (this.counts.get(server) ?? 0) + 1);
    // Map order is insertion order: the first entry is the oldest placement.
    if (this.byClient.size > this.max) this.settle(this.byClient.keys().next().value!);
  }

  /** The client arrived somewhere (or was refused): it no longer counts as pending. */
  settle(clientId: string): void {
    const entry = this.byClient.get(clientId);
    if (!entry) return;
    this.byClient.delete(clientId);
    this.counts.set(entry.server, (this.counts.get(entry.server) ?? 1) - 1);
  }

  /**
   * Called on every arrival. Entries are in the order they were added (add() re-inserts a client
   * placed again at the end), so the oldest come first: stop at the first that has not lapsed. In
   * a reconnect storm thousands are pending, and walking them all would make each arrival cost
   * more. (Should the clock step back, an entry behind a younger one lapses a little later.)
   */
  expire(now: number): void {
    for (const [clientId, entry] of this.byClient) {
      if (now - entry.at <= this.ttlMs) break;
      this.settle(clientId);
    }
  }

  /** The server a client was sent to and has not reported from yet, if any. */
  serverOf(clientId: string): string | undefined {
    return this.byClient.get(clientId)?.server;
  }

  count(server: string): number {
    return this.counts.get(server) ?? 0;
  }

  dropServer(server: string): void {
    for (const [clientId, entry] of this.byClient) if (entry.server === server) this.settle(clientId);
  }
}
