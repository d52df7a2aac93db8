import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BacklogStats } from '../store/writeBacklog.js';

export interface MetricsSource {
  clients(): number;
  sessions(): number;
  directorySize(): number;
  epoch(): number;
  configVersion(): number;
  acting(): boolean;
  /** On a member: seconds its replicated configuration may be behind (0 while linked). */
  replicationLagSeconds(): number;
  /** On the secondary: clients in its copy of the acting primary's directory (0 elsewhere). */
  directoryCopySize(): number;
  /** The store's writes that wait for room (a full disk), with cumulative counts. */
  storeBacklog(): BacklogStats;
  /** Client channels this server holds at most (`max-clients`). */
  maxClients?(): number;
}

const CERTIFICATE_EXPIRY = 'switchboard_tls_certificate_expiry_timestamp_seconds';

/**
 * The server's Prometheus metrics. Gauges are read at scrape time from the server itself, so no
 * hot path pays for them; counters are bumped where the event happens.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly bytesRelayed: Counter<'direction'>;
  readonly placements: Counter<'server'>;
  readonly redirects: Counter<'on'>;
  readonly refusals: Counter<'reason'>;
  readonly failovers: Counter;
  readonly heartbeatsMissed: Counter;
  readonly sessionsOpened: Counter;
  /** Not registered until the server has a certificate: a plain server exports no expiry. */
  private readonly certificateExpiry: Gauge;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_', eventLoopMonitoringPrecision: 20 });
    new Gauge({
      name: 'switchboard_clients',
      help: 'Clients connected to this server',
      registers,
      collect() {
        this.set(source.clients());
      },
    });
    new Gauge({
      name: 'switchboard_max_clients',
      help: 'Clients this server holds at most (max-clients); past it new clients are refused with SB_ERR_SERVER_FULL',
      registers,
      collect() {
        this.set(source.maxClients?.() ?? 0);
      },
    });
    new Gauge({
      name: 'switchboard_sessions_active',
      help: 'Sessions relayed through this server now',
      registers,
      collect() {
        this.set(source.sessions());
      },
    });
    new Gauge({
      name: 'switchboard_directory_clients',
      help: 'Clients this server can browse (the cluster, on the acting primary)',
      registers,
      collect() {
        this.set(source.directorySize());
      },
    });
    new Gauge({
      name: 'switchboard_epoch',
      help: 'Cluster epoch this server follows',
      registers,
      collect() {
        this.set(source.epoch());
      },
    });
    new Gauge({
      name: 'switchboard_config_version',
      help: 'Configuration version held by this server',
      registers,
      collect() {
        this.set(source.configVersion());
      },
    });
    new Gauge({
      name: 'switchboard_acting_primary',
      help: '1 when this server answers controls',
      registers,
      collect() {
        this.set(source.acting() ? 1 : 0);
      },
    });
    // The store counts these itself (it exists before the server and its metrics): read at scrape time.
    new Counter({
      name: 'switchboard_audit_write_failures_total',
      help: 'Audit records the store could not write when they happened (e.g. a full disk); kept in memory and retried',
      registers,
      collect() {
        this.reset();
        this.inc(source.storeBacklog().auditDeferred);
      },
    });
    new Counter({
      name: 'switchboard_audit_records_dropped_total',
      help: 'Audit records lost because too many were waiting for the store',
      registers,
      collect() {
        this.reset();
        this.inc(source.storeBacklog().auditDropped);
      },
    });
    new Gauge({
      name: 'switchboard_store_writes_pending',
      help: 'Audit records and meta values waiting for the store to take them',
      registers,
      collect() {
        const b = source.storeBacklog();
        this.set(b.pendingAudit + b.pendingMeta);
      },
    });
    new Gauge({
      name: 'switchboard_replication_lag_seconds',
      help: 'On a member: seconds since it last had a live link to the acting primary (0 while linked)',
      registers,
      collect() {
        this.set(source.replicationLagSeconds());
      },
    });
    new Gauge({
      name: 'switchboard_directory_copy_clients',
      help: "On the secondary: clients in its copy of the acting primary's directory, listed at once if it takes over",
      registers,
      collect() {
        this.set(source.directoryCopySize());
      },
    });
    this.bytesRelayed = new Counter({
      name: 'switchboard_bytes_relayed_total',
      help: 'Session bytes relayed, by direction',
      labelNames: ['direction'],
      registers,
    });
    this.placements = new Counter({
      name: 'switchboard_placements_total',
      help: 'Clients placed by this server, by the server chosen',
      labelNames: ['server'],
      registers,
    });
    this.redirects = new Counter({
      name: 'switchboard_redirects_total',
      help: 'Clients redirected to another server, by when: on the upgrade request (HTTP 307) or after the hello',
      labelNames: ['on'],
      registers,
    });
    this.refusals = new Counter({
      name: 'switchboard_refusals_total',
      help: 'Connections and sessions refused, by reason (server_full, hello_timeout, busy, bad_key, control_... for controls)',
      labelNames: ['reason'],
      registers,
    });
    this.failovers = new Counter({
      name: 'switchboard_failovers_total',
      help: 'Times this server took over as acting primary',
      registers,
    });
    this.heartbeatsMissed = new Counter({
      name: 'switchboard_heartbeats_missed_total',
      help: 'Clients dropped because they did not answer the previous ping (heartbeat)',
      registers,
    });
    this.certificateExpiry = new Gauge({
      name: CERTIFICATE_EXPIRY,
      help: 'When the TLS certificate served now expires (Unix time); follows renewals and reloads',
      registers: [],
    });
    this.sessionsOpened = new Counter({
      name: 'switchboard_sessions_total',
      help: 'Sessions relayed through this server',
      registers,
    });
  }

  /** The certificate served now expires then: alert before it does (a renewal that keeps failing). */
  setCertificateExpiry(notAfter: Date): void {
    if (!this.registry.getSingleMetric(CERTIFICATE_EXPIRY)) this.registry.registerMetric(this.certificateExpiry);
    this.certificateExpiry.set(Math.floor(notAfter.getTime() / 1000));
  }

  /** A client sent to another server: counted as placed there, and as redirected, on its upgrade request or after its hello. */
  redirected(to: string, on: 'upgrade' | 'hello'): void {
    this.placements.inc({ server: to });
    this.redirects.inc({ on });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
