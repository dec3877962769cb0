import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { killOnExit, killWithParent } from '../support/process-guard.js';
import { fromRoot, repoRoot } from '../support/paths.js';

/**
 * `npm run soak` with a short load (bench/soak.ts, the fault-injection soak of the sample app on
 * Redis), as a process of its own. Its sample processes run on this run's Nest (NEST_MAJOR is
 * inherited, as spawnChildApp does). No --write: BENCHMARKS.md is left alone.
 *
 * The time is mostly the drain: the jobs a SIGKILLed worker had in hand stay claimed until
 * BullMQ's lock lapses (30 s) and its stalled-job check (every 30 s) hands them back, and emails
 * the outbox relay could not hand over (Redis down) wait in the outbox for its retry (1 s, doubling
 * to 30 s).
 */
jest.setTimeout(600_000);

interface SoakResult {
  nestMajor: number;
  requests: number;
  accepted: number;
  lost: number;
  lostIds: number[];
  drainComplete: boolean;
  faults: Record<'worker-sigkill' | 'redis-restart' | 'web-sigterm', number>;
  webExitCodes: Array<number | null>;
  finalExits: Array<{ role: string; code: number | null; signal: string | null }>;
  unexpectedExits: unknown[];
  failures: string[];
}

function runSoak(args: string[]): Promise<{ code: number | null; output: string }> {
  const loader = fromRoot('test', 'support', 'child-loader', 'register-cjs.cjs');
  const [command, commandArgs] = killWithParent(process.execPath, ['-r', loader, fromRoot('bench', 'soak.ts'), ...args]);
  const proc = spawn(command, commandArgs, {
    cwd: repoRoot,
    // jest's --experimental-vm-modules (ESM run) is not for the soak process.
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(proc);
  let output = '';
  proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return new Promise((resolve) => {
    proc.once('error', (error) => resolve({ code: null, output: `${output}\nspawn error: ${error.message}` }));
    proc.once('close', (code) => resolve({ code, output }));
  });
}

describe('npm run soak (short)', () => {
  it('loses no accepted order through a worker SIGKILL, a Redis restart and a web SIGTERM; the web exits 0', async () => {
    const { code, output } = await runSoak(['--seconds', '20', '--rate', '10', '--drain-seconds', '240']);
    const line = output.split('\n').find((l) => l.startsWith('SOAK_RESULT '));
    if (!line) throw new Error(`the soak printed no SOAK_RESULT (exit ${code}):\n${output.slice(-8_000)}`);
    const result = JSON.parse(line.slice('SOAK_RESULT '.length)) as SoakResult;
    const context = `\n${output.split('\n').filter((l) => !l.startsWith('SOAK_RESULT ')).join('\n').slice(-8_000)}`;

    try {
      expect(result.nestMajor).toBe(process.env.NEST_MAJOR === '12' ? 12 : 11); // the sample ran on this run's Nest
      expect(result.accepted).toBeGreaterThan(0);
      expect({ lost: result.lost, lostIds: result.lostIds, drainComplete: result.drainComplete }).toEqual({ lost: 0, lostIds: [], drainComplete: true });
      expect(result.faults['worker-sigkill']).toBeGreaterThanOrEqual(1);
      expect(result.faults['redis-restart']).toBeGreaterThanOrEqual(1);
      expect(result.faults['web-sigterm']).toBeGreaterThanOrEqual(1);
      expect(result.webExitCodes).toEqual(result.webExitCodes.map(() => 0));
      expect(result.webExitCodes.length).toBe(result.faults['web-sigterm']);
      expect(result.finalExits.map((e) => e.role).sort()).toEqual(['web', 'worker-1', 'worker-2']);
      expect(result.finalExits.map((e) => e.code)).toEqual([0, 0, 0]);
      expect(result.unexpectedExits).toEqual([]);
      expect(result.failures).toEqual([]);
      expect(code).toBe(0);
    } catch (error) {
      // The soak's own account (timeline, summary, where its logs were kept) with the failed assertion.
      (error as Error).message += `\n\n--- soak output ---${context}`;
      throw error;
    }
  });
});
