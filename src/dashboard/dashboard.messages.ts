/** User-facing messages of the dashboard. */
const show = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value) ?? value));

export const INVALID_DASHBOARD_OPTION = (option: string, expected: string, value: unknown) =>
  `HostingDashboardModule.register: option "${option}" must be ${expected}, got ${show(value)}`;

export const DASHBOARD_ACTION_HEADER_MISSING = (header: string) =>
  `Dashboard actions need the ${header} header (sent by the dashboard page), so that a cross-site form cannot post them`;
