/** User-facing messages of the dashboard. */
import { INVALID_OPTION_AT, showValue } from '../hosting.messages.js';

/** The entry point, as option messages name it. */
export const DASHBOARD_WHERE = 'HostingDashboardModule.register';

export const INVALID_DASHBOARD_OPTION = (option: string, expected: string, value: unknown) =>
  INVALID_OPTION_AT(DASHBOARD_WHERE, option, expected, value);

export const DASHBOARD_ACTION_HEADER_MISSING = (header: string) =>
  `Dashboard actions need the ${header} header (sent by the dashboard page), so that a cross-site form cannot post them`;

export const DASHBOARD_CROSS_SITE_ACTION = (secFetchSite: string) =>
  `Dashboard actions are accepted only from the dashboard's own page; the browser says this one came from elsewhere (Sec-Fetch-Site: ${showValue(secFetchSite)})`;

export const DASHBOARD_FOREIGN_ORIGIN = (origin: string, own: string | undefined) =>
  `Dashboard actions are accepted only from the dashboard's own page; this one came from ${showValue(origin)}, ` +
  `not from ${own === undefined ? 'this server (the request has no Host header)' : showValue(own)}. Behind a reverse proxy, ` +
  `forward the Host header and, when the proxy terminates TLS, tell the app so (Express: app.set('trust proxy', …))`;

export const UNKNOWN_DASHBOARD_ACTION = (action: string, known: readonly string[]) =>
  `Unknown dashboard action ${showValue(action)}; known: ${known.join(', ')}`;

/** How a dashboard route is named in messages: `GET /hosting/queues/:name/dead-letters.json`. */
export const DASHBOARD_ROUTE = (method: 'GET' | 'POST', path: string, route: string) => `${method} /${path ? `${path}/` : ''}${route}`;

export const DASHBOARD_INVALID_QUERY = (route: string, parameter: string, expected: string, value: unknown) =>
  `${route}: query parameter "${parameter}" must be ${expected}, got ${showValue(value)}`;

export const DASHBOARD_UNKNOWN_PARAMETER = (route: string, parameter: string, known: readonly string[]) =>
  `${route}: unknown parameter ${showValue(parameter)}; known: ${known.join(', ')}`;

export const DASHBOARD_INVALID_BODY = (route: string, value: unknown) => `${route}: the body must be a JSON object such as {"id":"…"}, got ${showValue(value)}`;

export const DASHBOARD_INVALID_ID = (route: string, where: 'body' | 'query', value: unknown) =>
  `${route}: "id" (in the ${where}) must be a string of 1 to 200 characters, got ${showValue(value)}`;

export const DASHBOARD_CONFLICTING_ID = (route: string, body: string, query: string) =>
  `${route}: two different ids, ${showValue(body)} in the body and ${showValue(query)} in the query; give one`;

export const DASHBOARD_MISSING_ID = (route: string) => `${route}: needs the item's "id", in a JSON body {"id":"…"} or the query (?id=…)`;
