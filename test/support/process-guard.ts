/**
 * Processes that tests start (redis-server, child Node apps) must never outlive the jest
 * worker that started them, even when that worker is killed (jest's forceExit, a crash,
 * a timeout): then no 'exit' handler runs. On Linux, `setpriv --pdeathsig SIGKILL` (util-linux,
 * always on Debian) makes the kernel SIGKILL the process as soon as its parent dies; setpriv
 * execs the command, so the pid and signals are the command's own. Elsewhere, or without
 * setpriv, the command runs as is and only the 'exit' hook below applies.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === 'linux') {
    for (const dir of ['/usr/bin', '/bin', ...(process.env.PATH ?? '').split(path.delimiter)]) {
      if (!dir) continue;
      const candidate = path.join(dir, 'setpriv');
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        setprivPath = candidate;
        break;
      } catch {
        // keep looking
      }
    }
  }
  return setprivPath;
}

/** `[command, args]` wrapped so the process is SIGKILLed when this process dies. */
export function killWithParent(command: string, args: string[]): [string, string[]] {
  const setpriv = findSetpriv();
  return setpriv ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, args];
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** SIGKILL `proc` when this process exits normally, if it is still running by then. */
export function killOnExit(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
}
