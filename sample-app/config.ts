import * as path from 'node:path';

/** The sample's settings, read once from the environment; every one has an embedded default. */
export const config = {
  /** HTTP port of main.ts. */
  port: Number(process.env.PORT ?? 3000),
  /**
   * Interface main.ts listens on: loopback by default, since the dashboard at /hosting has no guard
   * in the sample; `HOST=0.0.0.0` exposes it (guard the dashboard first, see README.md).
   */
  host: process.env.HOST || '127.0.0.1',
  /** Folder of the SQLite database file (created when missing). */
  dataDir: path.resolve(process.env.DATA_DIR ?? path.join('sample-app', 'data')),
  /** With a Redis URL, the emails queue lives in Redis (BullMQ) and every process shares it. */
  redisUrl: process.env.REDIS_URL || undefined,
  /**
   * With a PostgreSQL URL (and no Redis URL), the emails queue lives in PostgreSQL (BullMQ's PostgreSQL
   * backend) and the periodic tasks are exclusive on it; `npm run sample -- --postgres` starts one and sets it.
   */
  postgresUrl: process.env.POSTGRES_URL || undefined,
  /** The store that processes share (Redis, else PostgreSQL), if any: the queue is durable and the periodic tasks exclusive. */
  get sharedStore(): 'Redis' | 'PostgreSQL' | undefined {
    return this.redisUrl ? 'Redis' : this.postgresUrl ? 'PostgreSQL' : undefined;
  },
  /**
   * Whether this process relays the outbox (hands committed emails to the queue). `OUTBOX_RELAY=off`
   * in a process that only writes (a web process beside worker.ts processes, which relay).
   */
  outboxRelay: process.env.OUTBOX_RELAY !== 'off',
  /** How long a graceful stop waits for in-flight work. */
  shutdownTimeoutMs: Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000),
  /** How long "sending" one email takes (a stand-in for an SMTP call). */
  emailSendMs: Number(process.env.EMAIL_SEND_MS ?? 250),
  /** How often old orders are purged, and how old they must be. */
  cleanupEveryMs: Number(process.env.CLEANUP_EVERY_MS ?? 60_000),
  retentionDays: Number(process.env.RETENTION_DAYS ?? 90),
  /** When the daily report runs (cron, with seconds) and in which time zone. */
  reportCron: process.env.REPORT_CRON ?? '0 0 6 * * *',
  timeZone: process.env.TZ_REPORTS ?? 'UTC',
  /**
   * Port of the Prometheus endpoint (`http://127.0.0.1:<port>/metrics`, loopback only); `off` or 0: no
   * endpoint. Traces are sent only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see telemetry.ts).
   */
  metricsPort: metricsPort(process.env.METRICS_PORT),
  /** Pause between two catalog syncs with the (simulated) supplier. */
  catalogSyncMs: Number(process.env.CATALOG_SYNC_MS ?? 30_000),
};

function metricsPort(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return 9464;
  if (value === 'off' || value === '0') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new TypeError(`METRICS_PORT must be a port (1-65535), 0 or "off"; got "${value}"`);
  return port;
}
