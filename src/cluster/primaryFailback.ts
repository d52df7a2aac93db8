import type { ClusterHost } from '../server/role.js';
import { announceActingPrimary } from './announcement.js';
import { nextEpoch } from './failover.js';

const RECLAIM_EVERY_MS = 2000;

/**
 * Failback, run by the configured primary (never by the secondary standing in): if the secondary
 * took over while we were away (or cut off), take its newer configuration, then the role back with
 * a higher epoch, and ask it to step down. Members then re-link here; their clients stay where
 * they are.
 */
export class PrimaryFailback {
  private timer: NodeJS.Timeout | undefined;
  private reclaiming = false;

  constructor(
    private readonly host: ClusterHost,
    private readonly epoch: () => number,
    private readonly secondary: () => string | undefined,
  ) {}

  start(): void {
    void this.reclaim();
    this.timer = setInterval(() => void this.reclaim(), RECLAIM_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async reclaim(): Promise<void> {
    const secondary = this.secondary();
    if (!secondary || this.reclaiming) return;
    this.reclaiming = true;
    const log = this.host.logger.child({ channel: 'cluster', secondary });
    try {
      const status = await this.host.callRpc(secondary, 'status', {});
      // A secondary that has seen a newer epoch without acting means we are the stale one (an old
      // copy of our data directory came back): members refuse us until we are above that epoch.
      const stale = status.epoch > this.epoch();
      if (!status.acting && !stale) return;
      log.warn(
        { theirEpoch: status.epoch, ourEpoch: this.epoch() },
        status.acting
          ? 'the secondary is acting as primary; taking the role back'
          : 'the secondary has seen a newer epoch than ours; taking its configuration and a higher epoch',
      );
      const snapshot = await this.host.callRpc(secondary, 'snapshot', {});
      if (snapshot.version >= this.host.store.version()) {
        this.host.store.applySnapshot(snapshot);
        this.host.config.check();
      }
      const epoch = nextEpoch(this.epoch(), status.epoch);
      this.host.store.setMeta('epoch', String(epoch));
      if (status.acting) await this.host.callRpc(secondary, 'step-down', { epoch });
      log.warn({ epoch, configVersion: snapshot.version }, 'took the primary role back');
      // The members' links to the secondary closed when it stepped down: they need not wait to retry.
      if (status.acting) announceActingPrimary(this.host, epoch);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'secondary not reachable for failback check');
    } finally {
      this.reclaiming = false;
    }
  }
}
