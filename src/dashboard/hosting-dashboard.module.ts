import { Module, type DynamicModule } from '@nestjs/common';
import { OptionsValidator } from '../validation/options-validator.js';
import { DASHBOARD_WHERE } from './dashboard.messages.js';
import { createDashboardControllers } from './dashboard.controllers.js';
import {
  DEFAULT_DASHBOARD_PATH,
  DEFAULT_DASHBOARD_REFRESH_MS,
  DEFAULT_DASHBOARD_TITLE,
  MAX_DASHBOARD_REFRESH_MS,
  MIN_DASHBOARD_REFRESH_MS,
  type HostingDashboardOptions,
  type ResolvedDashboardOptions,
} from './dashboard-options.interface.js';
import { OneCopy } from '../one-copy.js';

/**
 * A status page of the hosted services, in the spirit of Hangfire's dashboard: `GET /<path>` (HTML,
 * refreshes itself) and `GET /<path>/status.json`. Off unless imported; read-only unless
 * `readOnly: false`. Needs `HostingModule.forRoot()` in the app and an HTTP platform.
 *
 * @example
 * ```ts
 * import { HostingDashboardModule } from 'nest-hosting/dashboard';
 *
 * @Module({
 *   imports: [
 *     HostingModule.forRoot(),
 *     // AdminGuard injects AuthModule's TokenService: `imports` makes it resolvable.
 *     HostingDashboardModule.register({ path: 'hosting', guards: [AdminGuard], imports: [AuthModule] }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@OneCopy('HostingDashboardModule')
@Module({})
export class HostingDashboardModule {
  /**
   * Serves the dashboard under `options.path` (default `hosting`). Throws a `TypeError` for an
   * unknown option (naming the closest known one) or a bad value.
   */
  static register(options: HostingDashboardOptions = {}): DynamicModule {
    const resolved = resolveOptions(options);
    return { module: HostingDashboardModule, imports: resolved.imports ?? [], controllers: createDashboardControllers(resolved) };
  }
}

const KNOWN_OPTIONS: ReadonlyArray<keyof HostingDashboardOptions> = ['path', 'readOnly', 'refreshMs', 'title', 'guards', 'imports', 'showErrorStacks'];

const isPath = (value: unknown): boolean => typeof value === 'string' && /^\/?[\w\-./]+\/?$/.test(value) && !value.includes('..');
const isGuard = (value: unknown): boolean =>
  typeof value === 'function' || (typeof value === 'object' && value !== null && typeof (value as { canActivate?: unknown }).canActivate === 'function');
const isModule = (value: unknown): boolean => typeof value === 'function' || (typeof value === 'object' && value !== null);

function resolveOptions(options: HostingDashboardOptions): ResolvedDashboardOptions {
  const check = OptionsValidator.for(DASHBOARD_WHERE, options, KNOWN_OPTIONS);
  const path = check.check<string>('path', isPath, 'a URL path such as "hosting" or "admin/hosting"') ?? DEFAULT_DASHBOARD_PATH;
  const guards = check.check<HostingDashboardOptions['guards']>('guards', (v) => Array.isArray(v) && v.every(isGuard), 'an array of guards (classes or objects with canActivate)');
  const imports = check.check<HostingDashboardOptions['imports']>('imports', (v) => Array.isArray(v) && v.every(isModule), 'an array of modules');
  return {
    path: path.replace(/^\/+|\/+$/g, ''),
    readOnly: check.boolean('readOnly') ?? true,
    refreshMs: check.duration('refreshMs', { min: MIN_DASHBOARD_REFRESH_MS, max: MAX_DASHBOARD_REFRESH_MS }) ?? DEFAULT_DASHBOARD_REFRESH_MS,
    title: check.check<string>('title', (v) => typeof v === 'string', 'a string') ?? DEFAULT_DASHBOARD_TITLE,
    showErrorStacks: check.boolean('showErrorStacks') ?? false,
    guards,
    imports,
  };
}
