/** User-facing messages of the systemd integration (kept beside it so that tests quote the same text). */

export const SYSTEMD_NOTIFY_MISSING = () =>
  'NOTIFY_SOCKET is set but the systemd-notify command was not found (it ships with systemd; on Debian: apt-get install systemd); ' +
  'READY/STOPPING/WATCHDOG notifications are not sent';

export const SYSTEMD_NOTIFY_FAILED = (message: string, detail: string) =>
  `systemd-notify ${message} failed: ${detail}`;

export const SYSTEMD_WATCHDOG_WITHHELD = (faulted: string[]) =>
  `systemd watchdog: not pinging while faulted: ${faulted.map((n) => `"${n}"`).join(', ')}`;
