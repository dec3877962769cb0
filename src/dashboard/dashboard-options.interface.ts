import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';

/** Options of `HostingDashboardModule.register`. */
export interface HostingDashboardOptions {
  /** Route prefix: the page at `GET /<path>`, the JSON at `GET /<path>/status.json`. @default 'hosting' */
  path?: string;
  /**
   * When false, the page gets Run now / Pause / Resume buttons, and Restart for a faulted background
   * service, served by `POST /<path>/services/:name/(trigger|pause|resume|restart)`; a queue's dead
   * letters get Redrive / Discard (one, or all after a confirm), served by
   * `POST /<path>/queues/:name/dead-letters/(redrive|discard)` (`{ "id": "…" }` or none for all), and its
   * running items a Cancel button, `POST /<path>/queues/:name/cancel`. Those posts are refused (403) unless they
   * carry the `X-Hosting-Dashboard` header and come from the page's own origin (see the README).
   * The list itself, `GET /<path>/queues/:name/dead-letters.json?offset&limit`, is served either way.
   * @default true
   */
  readOnly?: boolean;
  /**
   * How often the open page refreshes itself, in milliseconds: from 250 to 2147483647 (2^31−1, the
   * longest delay a browser's `setTimeout` takes; above it the timer fires at once, in a loop).
   * @default 2000
   */
  refreshMs?: number;
  /** Heading of the page. @default 'nest-hosting' */
  title?: string;
  /**
   * Guards of the dashboard's routes (the dashboard shows task names and errors: protect it
   * outside a trusted network), e.g. `[AdminGuard]`. A guard class is instantiated in the
   * dashboard's module: put the modules exporting its dependencies in `imports`.
   * @default []
   */
  guards?: Array<Type<CanActivate> | CanActivate>;
  /**
   * Modules the dashboard's module imports, so that `guards` can inject their providers, e.g.
   * `[AuthModule]` for an `AdminGuard` that injects `AuthModule`'s `TokenService`.
   * @default []
   */
  imports?: ModuleMetadata['imports'];
  /**
   * Show `lastError.stack` on the page and in `status.json`. Off by default: stacks carry the
   * absolute paths of the app's files and its dependencies; the error message is always shown.
   * @default false
   */
  showErrorStacks?: boolean;
  /**
   * The history the page charts and `status.json` carries (`history`): each unit's last runs
   * (start, duration, lateness, outcome, error) and each queue's counts over time, kept in memory
   * in buffers of fixed size by an interceptor around every unit of work. `false`: no history,
   * and no interceptor (no cost per unit).
   * @default { runs: 50, samples: 120, sampleEveryMs: 5000 }
   */
  history?: false | DashboardHistoryOptions;
}

/** Options of the dashboard's history (`HostingDashboardModule.register({ history })`). */
export interface DashboardHistoryOptions {
  /** Runs kept per unit (ticks, `execute` runs, queue items), the latest: 1 to 1000. @default 50 */
  runs?: number;
  /** Samples kept per queue, the latest: 1 to 10000. @default 120 (10 minutes at the default `sampleEveryMs`) */
  samples?: number;
  /** How often each queue's counts are sampled, in milliseconds on the host's `TimeProvider`: 100 to 2^31−1. @default 5000 */
  sampleEveryMs?: number;
}

/** The history options with their defaults applied. */
export type ResolvedHistoryOptions = Required<DashboardHistoryOptions>;

/** The options with their defaults applied. */
export type ResolvedDashboardOptions = Required<Omit<HostingDashboardOptions, 'guards' | 'imports' | 'history'>> &
  Pick<HostingDashboardOptions, 'guards' | 'imports'> & { history: ResolvedHistoryOptions | false };

export const DEFAULT_DASHBOARD_PATH = 'hosting';
export const DEFAULT_DASHBOARD_REFRESH_MS = 2_000;
export const DEFAULT_DASHBOARD_TITLE = 'nest-hosting';
/** Bounds of `refreshMs`: below 250 ms the page is a load on the app; above 2^31−1 a browser timer overflows. */
export const MIN_DASHBOARD_REFRESH_MS = 250;
export const MAX_DASHBOARD_REFRESH_MS = 2 ** 31 - 1;
export const DEFAULT_HISTORY_RUNS = 50;
export const MAX_HISTORY_RUNS = 1_000;
export const DEFAULT_HISTORY_SAMPLES = 120;
export const MAX_HISTORY_SAMPLES = 10_000;
export const DEFAULT_HISTORY_SAMPLE_EVERY_MS = 5_000;
export const MIN_HISTORY_SAMPLE_EVERY_MS = 100;
export const MAX_HISTORY_SAMPLE_EVERY_MS = 2 ** 31 - 1;
