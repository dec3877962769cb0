/**
 * Listens on a unix datagram socket the way systemd does for `NOTIFY_SOCKET` (Node has no unix
 * datagram sockets, so a small python3 script holds it) and collects what arrives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fromRoot } from '../support/paths.js';

export interface Notification {
  /** The sender's pid, from the socket credentials. */
  pid: number | null;
  /** `VARIABLE=VALUE` assignments of the message, in order. */
  assignments: string[];
}

export interface NotifyListener {
  /** The value to put in `NOTIFY_SOCKET` (an abstract socket name, `@…`). */
  readonly socket: string;
  /** Messages as received, BARRIER=1 ones (systemd-notify waiting for the manager) included. */
  readonly notifications: Notification[];
  /** Every assignment received, in order, without the protocol's MAINPID= and BARRIER=1. */
  states(): string[];
  /** Resolves once `predicate` holds over the notifications, rejects after `timeoutMs`. */
  waitFor(predicate: (states: string[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function listenForNotifications(): Promise<NotifyListener> {
  const socket = `@nest-hosting-test-${randomUUID()}`;
  const proc: ChildProcess = spawn('python3', [fromRoot('test', 'systemd', 'notify-listener.py'), socket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const notifications: Notification[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let onListening!: () => void;
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as { listening?: string; pid?: number | null; message?: string };
      buffered = buffered.slice(newline + 1);
      if (line.listening) onListening();
      else notifications.push({ pid: line.pid ?? null, assignments: line.message!.split('\n').filter(Boolean) });
      for (const waiter of [...waiters]) waiter();
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await Promise.race([
    listening,
    exited.then(() => Promise.reject(new Error('notify-listener.py exited before listening'))),
  ]);

  const states = () =>
    notifications.flatMap((n) => n.assignments).filter((a) => !a.startsWith('MAINPID=') && a !== 'BARRIER=1');
  return {
    socket,
    notifications,
    states,
    waitFor(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(states())) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`notifications did not match within ${timeoutMs} ms; got ${JSON.stringify(states())}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
