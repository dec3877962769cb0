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
  services: ServiceStatus[];
}

export function takeSnapshot(registry: HostingRegistry, lifetime: HostLifetime): DashboardSnapshot {
  const state = lifetime.isRunning ? 'running' : lifetime.stopping.aborted ? 'stopping' : 'starting';
  return {
    generatedAt: new Date(),
    host: { state, pid: process.pid, uptimeMs: Math.round(process.uptime() * 1000) },
    services: registry.list(),
  };
}
