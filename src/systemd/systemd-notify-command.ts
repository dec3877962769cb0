import { execFile } from 'node:child_process';

/** Why a notification was not delivered. */
export type NotifyFailure = { kind: 'missing-binary' } | { kind: 'failed'; detail: string };

/** How long one `systemd-notify` may take (it waits for the manager to process the message). */
const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Sends one notification to the service manager on `NOTIFY_SOCKET` through Debian's (and every
 * systemd distribution's) `systemd-notify`, on behalf of this process (`--pid`).
 *
 * Why a helper process: Node has no unix datagram sockets, and a native addon would need a
 * compiler and libsystemd headers at install time. `systemd-notify` ships with systemd itself, so
 * it is present wherever `NOTIFY_SOCKET` is set by systemd. It sends with this process's pid in
 * its credentials when allowed (root), and waits until the manager has read the message
 * (`BARRIER=1`), so the message is attributed to the service even after the helper exits.
 */
export function sendWithSystemdNotify(assignments: string[], env: NodeJS.ProcessEnv = process.env): Promise<NotifyFailure | undefined> {
  return new Promise((resolve) => {
    execFile(
      'systemd-notify',
      [`--pid=${process.pid}`, ...assignments],
      { env, timeout: NOTIFY_TIMEOUT_MS, windowsHide: true },
      (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve({ kind: 'missing-binary' });
        resolve({ kind: 'failed', detail: (stderr || error.message).trim() });
      },
    );
  });
}
