import { Module, type DynamicModule } from '@nestjs/common';
import { INVALID_DASHBOARD_OPTION } from './dashboard.messages.js';
import { createDashboardControllers } from './dashboard.controllers.js';
import {
  DEFAULT_DASHBOARD_PATH,
  DEFAULT_DASHBOARD_REFRESH_MS,
  DEFAULT_DASHBOARD_TITLE,
  type HostingDashboardOptions,
  type ResolvedDashboardOptions,
} from './dashboard-options.interface.js';

/**
 * A status page of the hosted services, in the spirit of Hangfire's dashboard: `GET /<path>` (HTML,
 * refreshes itself) and `GET /<path>/status.json`. Off unless imported; read-only unless
 * `readOnly: false`. Needs `HostingModule.forRoot()` in the app and an HTTP platform.
 *
 * @example
 * ```ts
 * import { HostingDashboardModule } from 'nest-hosting/dashboard';
 *
 * @Module({ imports: [HostingModule.forRoot(), HostingDashboardModule.register({ path: 'hosting' })] })
 * export class AppModule {}
 * ```
 */
@Module({})
export class HostingDashboardModule {
  /** Serves the dashboard under `options.path` (default `hosting`). */
  static register(options: HostingDashboardOptions = {}): DynamicModule {
    return { module: HostingDashboardModule, controllers: createDashboardControllers(resolveOptions(options)) };
  }
}

function resolveOptions(options: HostingDashboardOptions): ResolvedDashboardOptions {
  const {
    path = DEFAULT_DASHBOARD_PATH,
    readOnly = true,
    refreshMs = DEFAULT_DASHBOARD_REFRESH_MS,
    title = DEFAULT_DASHBOARD_TITLE,
    guards,
  } = options ?? {};
  if (typeof path !== 'string' || !/^\/?[\w\-./]+\/?$/.test(path) || path.includes('..'))
    throw new TypeError(INVALID_DASHBOARD_OPTION('path', 'a URL path such as "hosting" or "admin/hosting"', path));
  if (typeof readOnly !== 'boolean') throw new TypeError(INVALID_DASHBOARD_OPTION('readOnly', 'a boolean', readOnly));
  if (typeof refreshMs !== 'number' || !Number.isFinite(refreshMs) || refreshMs < 250)
    throw new TypeError(INVALID_DASHBOARD_OPTION('refreshMs', 'a number of milliseconds >= 250', refreshMs));
  if (typeof title !== 'string') throw new TypeError(INVALID_DASHBOARD_OPTION('title', 'a string', title));
  if (guards !== undefined && !Array.isArray(guards)) throw new TypeError(INVALID_DASHBOARD_OPTION('guards', 'an array of guards', guards));
  return { path: path.replace(/^\/+|\/+$/g, ''), readOnly, refreshMs, title, guards };
}
