import type { CanActivate, Type } from '@nestjs/common';

/** Options of `HostingDashboardModule.register`. */
export interface HostingDashboardOptions {
  /** Route prefix: the page at `GET /<path>`, the JSON at `GET /<path>/status.json`. @default 'hosting' */
  path?: string;
  /**
   * When false, the page gets Run now / Pause / Resume buttons, served by
   * `POST /<path>/services/:name/(trigger|pause|resume)`. @default true
   */
  readOnly?: boolean;
  /** How often the open page refreshes itself, in milliseconds. @default 2000 */
  refreshMs?: number;
  /** Heading of the page. @default 'nest-hosting' */
  title?: string;
  /**
   * Guards of the dashboard's routes (the dashboard shows task names and errors: protect it
   * outside a trusted network), e.g. `[AdminGuard]`.
   * @default []
   */
  guards?: Array<Type<CanActivate> | CanActivate>;
}

/** The options with their defaults applied. */
export type ResolvedDashboardOptions = Required<Omit<HostingDashboardOptions, 'guards'>> & Pick<HostingDashboardOptions, 'guards'>;

export const DEFAULT_DASHBOARD_PATH = 'hosting';
export const DEFAULT_DASHBOARD_REFRESH_MS = 2_000;
export const DEFAULT_DASHBOARD_TITLE = 'nest-hosting';
