/**
 * The API reports (api/*.api.md) match the public surface: scripts/api-report.mjs --check builds
 * the .d.ts in a temp dir and runs api-extractor against the checked-in reports, so a change to
 * the public API fails here until `npm run api:report` regenerates them (and the diff is reviewed).
 *
 * The .d.ts do not depend on the Nest major, so this runs in the Nest 11 run only.
 */
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths.js';

const describeNest11 = process.env.NEST_MAJOR === '12' ? describe.skip : describe;
const REPORTS = ['nest-hosting', 'nest-hosting-health', 'nest-hosting-dashboard', 'nest-hosting-testing', 'nest-hosting-opentelemetry'];

interface Run {
  code: number | null;
  output: string;
}

function runScript(args: string[], cwd = repoRoot): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(cwd, 'scripts', 'api-report.mjs'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describeNest11('API report (api-extractor)', () => {
  jest.setTimeout(300_000);

  it('has a checked-in report per entry', () => {
    for (const report of REPORTS) expect(fs.existsSync(path.join(repoRoot, 'api', `${report}.api.md`))).toBe(true);
  });

  it('matches the public API (else: run npm run api:report and review the diff)', async () => {
    const run = await runScript(['--check']);
    if (run.code !== 0) throw new Error(`The public API differs from api/*.api.md: run npm run api:report and review the diff.\n\n${run.output}`);
    for (const report of REPORTS) expect(run.output).toContain(`api-report: ${report}: matches`);
  });

  it('fails with the diff and the command to run when the public API changed', async () => {
    // A copy of the repository's sources with one export added; the reports are the checked-in ones.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-api-change-'));
    try {
      for (const entry of ['src', 'api', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'])
        fs.cpSync(path.join(repoRoot, entry), path.join(copy, entry), { recursive: true });
      fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
      fs.appendFileSync(path.join(copy, 'src', 'index.ts'), "export const addedForTheApiReportTest = 'x';\n");
      const run = await runScript(['--check'], copy);
      expect(run.code).toBe(1);
      expect(run.output).toContain('the public API of nest-hosting differs from the checked-in report api/nest-hosting.api.md');
      expect(run.output).toContain('run npm run api:report and review the diff');
      expect(run.output).toMatch(/^\+export const addedForTheApiReportTest = "x";$/m);
      expect(run.output).toContain('api-report: nest-hosting-health: matches');
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
