import { DASHBOARD_CROSS_SITE_ACTION, DASHBOARD_FOREIGN_ORIGIN } from './dashboard.messages.js';

/** The part of a request the origin check reads; Express and Fastify requests both have it. */
export interface ActionRequest {
  headers: Record<string, string | string[] | undefined>;
  /**
   * Express and Fastify: `'http'` or `'https'`. Both read `X-Forwarded-Proto` only when the app
   * trusts its proxy (Express `app.set('trust proxy', …)`, Fastify `trustProxy`).
   */
  protocol?: string;
  /** Express 5 and Fastify 5: the Host header with its port (`X-Forwarded-Host` only under the same trust setting). */
  host?: string;
  socket?: { encrypted?: boolean };
}

/** `Sec-Fetch-Site` values of a request made by the page itself (`none`: typed or bookmarked by the user). */
const OWN_SITE = ['same-origin', 'none'];

/** Hosts as a Host header may spell them: a name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

const header = (request: ActionRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const originOf = (url: string): string | undefined => {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
};

/**
 * The request's own origin: its scheme as the platform reports it and its Host header, normalised
 * as browsers write `Origin` (lower case, no default port). Undefined without a usable Host.
 */
export function requestOrigin(request: ActionRequest): string | undefined {
  const scheme = request.protocol === 'https' || request.protocol === 'http' ? request.protocol : request.socket?.encrypted ? 'https' : 'http';
  const host = typeof request.host === 'string' && request.host ? request.host : header(request, 'host');
  if (!host || !HOST.test(host)) return undefined;
  return originOf(`${scheme}://${host}`);
}

/**
 * Why a dashboard action must be refused as cross-origin, or undefined to accept it. The rule:
 * refused when `Sec-Fetch-Site` is present and neither `same-origin` nor `none`, or when `Origin`
 * is present and is not the request's own origin (`requestOrigin`). A request with neither header
 * does not come from a browser page (browsers send `Origin` on every POST), so it passes.
 */
export function crossOriginRefusal(request: ActionRequest): string | undefined {
  const site = header(request, 'sec-fetch-site');
  if (site !== undefined && !OWN_SITE.includes(site.trim().toLowerCase())) return DASHBOARD_CROSS_SITE_ACTION(site);
  const origin = header(request, 'origin');
  if (origin === undefined) return undefined;
  const own = requestOrigin(request);
  return own !== undefined && originOf(origin) === own ? undefined : DASHBOARD_FOREIGN_ORIGIN(origin, own);
}
