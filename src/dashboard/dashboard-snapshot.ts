import type { HostLifetime } from '../host/host-lifetime.js';
import type { ServiceStatus } from '../interfaces/service-status.interface.js';
import type { HostingRegistry } from '../registry/hosting.registry.js';

/** What `GET /<path>/status.json` returns. */
export interface DashboardSnapshot {
  generatedAt: Date;
  host: {
    /** `starting` before `HostLifetime.started`, `stopping` once a graceful stop began. */
    state: 'starting' | 'running' | 'stopping';
    pid: number;
    uptimeMs: number;
  };
  /** `HostingRegistry.list()`, without `lastError.stack` unless the dashboard has `showErrorStacks: true`. */
  services: ServiceStatus[];
}

/** The registry now; `lastError.stack` is left out unless `showErrorStacks`. */
export function takeSnapshot(registry: HostingRegistry, lifetime: HostLifetime, showErrorStacks: boolean): DashboardSnapshot {
  const state = lifetime.isRunning ? 'running' : lifetime.stopping.aborted ? 'stopping' : 'starting';
  const services = registry.list();
  return {
    generatedAt: new Date(),
    host: { state, pid: process.pid, uptimeMs: Math.round(process.uptime() * 1000) },
    services: showErrorStacks ? services : services.map(withoutStack),
  };
}

function withoutStack(status: ServiceStatus): ServiceStatus {
  if (!status.lastError) return status;
  const { message, at } = status.lastError;
  return { ...status, lastError: { message, at } };
}
