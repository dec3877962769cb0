import type { HostLifetime } from '../host/host-lifetime.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostingRegistry } from '../registry/hosting.registry.js';
import { previewJson } from './dashboard-dead-letters.js';
import type { DashboardHistory, DashboardUnitHistory } from './dashboard-history.js';

/** What `GET /<path>/status.json` returns. */
export interface DashboardSnapshot {
  generatedAt: Date;
  host: {
    /** `starting` before `HostLifetime.started`, `stopping` once a graceful stop began. */
    state: 'starting' | 'running' | 'stopping';
    pid: number;
    uptimeMs: number;
  };
  /**
   * `HostingRegistry.list()`, without `lastError.stack` unless the dashboard has `showErrorStacks: true`;
   * a queue's `progress` value that JSON cannot write (a cycle, a BigInt) is `{ unserializable: "<as util.inspect writes it>" }`.
   */
  services: ServiceStatus[];
  /**
   * The history of each unit `services` lists that has one (unset with `history: false`), by name;
   * oldest first, at most `history.runs` runs and `history.samples` samples:
   *
   * ```json
   * {
   *   "reports.daily": { "runs": [{ "startedAt": "2026-03-01T00:00:00.004Z", "durationMs": 812, "latenessMs": 4, "outcome": "success" },
   *                               { "startedAt": "2026-03-01T01:00:00.002Z", "durationMs": 30, "latenessMs": 2, "outcome": "failure", "error": "disk full" }] },
   *   "emails": { "runs": [{ "startedAt": "…", "durationMs": 120, "outcome": "success" }],
   *               "samples": [{ "at": "2026-03-01T01:00:05.000Z", "processed": 1520, "failed": 3, "depth": 12, "inFlight": 4 }] }
   * }
   * ```
   *
   * `runs`: ticks, `execute` runs and queue deliveries (each attempt), with `latenessMs` for
   * scheduled ticks and `outcome` `'success'`, `'failure'` (with the `error` message) or
   * `'cancelled'` (ended by the host's stop). `samples` (queues): `processed` and `failed` count
   * since the start (throughput is the difference between two samples), `depth` and `inFlight` as
   * at `at`.
   */
  history?: Record<string, DashboardUnitHistory>;
}

/** The registry now; `lastError.stack` is left out unless `showErrorStacks`. */
export function takeSnapshot(registry: HostingRegistry, lifetime: HostLifetime, showErrorStacks: boolean, history?: DashboardHistory): DashboardSnapshot {
  const state = lifetime.isRunning ? 'running' : lifetime.stopping.aborted ? 'stopping' : 'starting';
  const services = registry.list();
  const snapshot: DashboardSnapshot = {
    generatedAt: new Date(),
    host: { state, pid: process.pid, uptimeMs: Math.round(process.uptime() * 1000) },
    services: services.map((s) => writable(showErrorStacks ? s : withoutStack(s))),
  };
  if (history) snapshot.history = history.snapshot(services.map((s) => s.name));
  return snapshot;
}

/** The status with every `progress` value one JSON can write (`status.json` must not fail on one item's report). */
function writable(status: ServiceStatus): ServiceStatus {
  if (!status.progress?.some(({ value }) => typeof value === 'object' && !jsonWritable(value))) return status;
  const progress = status.progress.map((p) => (typeof p.value === 'object' && !jsonWritable(p.value) ? { ...p, value: { unserializable: previewJson(p.value, 1_000).text } } : p));
  return { ...status, progress };
}

const jsonWritable = (value: object): boolean => {
  try {
    JSON.stringify(value);
    return true;
  } catch {
    return false;
  }
};

function withoutStack(status: ServiceStatus): ServiceStatus {
  if (!status.lastError) return status;
  const { message, at } = status.lastError;
  return { ...status, lastError: { message, at } };
}
