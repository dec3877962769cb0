import { Module, type DynamicModule } from '@nestjs/common';
import { OptionsValidator } from '../validation/options-validator.js';
import { DASHBOARD_HISTORY_OPTIONS, DashboardHistory } from './dashboard-history.js';
import { DASHBOARD_WHERE } from './dashboard.messages.js';
import { createDashboardControllers } from './dashboard.controllers.js';
import {
  DEFAULT_DASHBOARD_PATH,
  DEFAULT_DASHBOARD_REFRESH_MS,
  DEFAULT_DASHBOARD_TITLE,
  DEFAULT_HISTORY_RUNS,
  DEFAULT_HISTORY_SAMPLE_EVERY_MS,
  DEFAULT_HISTORY_SAMPLES,
  MAX_DASHBOARD_REFRESH_MS,
  MAX_HISTORY_RUNS,
  MAX_HISTORY_SAMPLE_EVERY_MS,
  MAX_HISTORY_SAMPLES,
  MIN_DASHBOARD_REFRESH_MS,
  MIN_HISTORY_SAMPLE_EVERY_MS,
  type DashboardHistoryOptions,
  type HostingDashboardOptions,
  type ResolvedDashboardOptions,
  type ResolvedHistoryOptions,
} from './dashboard-options.interface.js';
import { OneCopy } from '../one-copy.js';

/**
 * A status page of the hosted services, in the spirit of Hangfire's dashboard: `GET /<path>` (HTML,
 * refreshes itself), `GET /<path>/status.json`, and a queue's dead letters a page at a time at
 * `GET /<path>/queues/:name/dead-letters.json`. Off unless imported; read-only unless
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
   * Serves the dashboard under `options.path` (default `hosting`). Unless `history: false`, also
   * registers `DashboardHistory`, a `@WorkInterceptor({ order: -800 })` that keeps each unit's last
   * runs and each queue's counts over time for the page's charts and `status.json`. Throws a
   * `TypeError` for an unknown option (naming the closest known one) or a bad value.
   */
  static register(options: HostingDashboardOptions = {}): DynamicModule {
    const resolved = resolveOptions(options);
    // The history is an interceptor (a provider the host finds), so `history: false` costs nothing per unit.
    const providers = resolved.history ? [{ provide: DASHBOARD_HISTORY_OPTIONS, useValue: resolved.history }, DashboardHistory] : [];
    return { module: HostingDashboardModule, imports: resolved.imports ?? [], providers, controllers: createDashboardControllers(resolved) };
  }
}

const KNOWN_OPTIONS: ReadonlyArray<keyof HostingDashboardOptions> = ['path', 'readOnly', 'refreshMs', 'title', 'guards', 'imports', 'showErrorStacks', 'history'];
const HISTORY_OPTIONS: ReadonlyArray<keyof DashboardHistoryOptions> = ['runs', 'samples', 'sampleEveryMs'];

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
    history: resolveHistory(check),
    guards,
    imports,
  };
}

const isCount = (max: number) => (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= max;

function resolveHistory(check: OptionsValidator): ResolvedHistoryOptions | false {
  const given = check.get('history');
  if (given === false) return false;
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given)))
    check.fail('history', 'false or an object { runs?, samples?, sampleEveryMs? }');
  const history = check.nested('history', HISTORY_OPTIONS);
  return {
    runs: history.check<number>('runs', isCount(MAX_HISTORY_RUNS), `an integer from 1 to ${MAX_HISTORY_RUNS}`) ?? DEFAULT_HISTORY_RUNS,
    samples: history.check<number>('samples', isCount(MAX_HISTORY_SAMPLES), `an integer from 1 to ${MAX_HISTORY_SAMPLES}`) ?? DEFAULT_HISTORY_SAMPLES,
    sampleEveryMs: history.duration('sampleEveryMs', { min: MIN_HISTORY_SAMPLE_EVERY_MS, max: MAX_HISTORY_SAMPLE_EVERY_MS }) ?? DEFAULT_HISTORY_SAMPLE_EVERY_MS,
  };
}
