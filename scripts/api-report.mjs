#!/usr/bin/env node
/**
 * `npm run api:report`: the API reports of the public surface, api/<entry>.api.md, one per package
 * entry ('nest-hosting', 'nest-hosting/health', 'nest-hosting/dashboard'), from a fresh build of
 * the .d.ts (tsconfig.build.json, @internal members stripped) with @microsoft/api-extractor.
 *
 *   node scripts/api-report.mjs          regenerate api/*.api.md (review the diff, commit it)
 *   node scripts/api-report.mjs --check  fail (exit 1) when a report differs from the public API;
 *                                        test/package/api-report.spec.ts runs this
 *
 * The .d.ts are built into a temp dir (never dist/, which other builds may be writing); the
 * configs are api/<report>.api-extractor.json (shared settings in api/api-extractor.base.json).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(repoRoot, 'package.json'));
const { Extractor, ExtractorConfig } = require('@microsoft/api-extractor');

/** Report name -> the entry's .d.ts under the build folder. */
export const REPORTS = [
  { report: 'nest-hosting', entry: 'index.d.ts' },
  { report: 'nest-hosting-health', entry: 'health/index.d.ts' },
  { report: 'nest-hosting-dashboard', entry: 'dashboard/index.d.ts' },
  { report: 'nest-hosting-testing', entry: 'testing/index.d.ts' },
  { report: 'nest-hosting-opentelemetry', entry: 'opentelemetry/index.d.ts' },
];

const check = process.argv.includes('--check');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-api-'));
let failed = false;
try {
  // The .d.ts import @nestjs/* and rxjs: resolve them from the repo's node_modules.
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  const outDir = path.join(work, 'dist');
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--emitDeclarationOnly', '--outDir', outDir], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (build.status !== 0) {
    console.error(`api-report: tsc -p tsconfig.build.json failed:\n${build.stdout}${build.stderr}`);
    process.exit(1);
  }

  for (const { report, entry } of REPORTS) {
    const configFile = path.join(repoRoot, 'api', `${report}.api-extractor.json`);
    const configObject = ExtractorConfig.loadFile(configFile);
    configObject.mainEntryPointFilePath = path.join(outDir, entry);
    configObject.apiReport = { ...configObject.apiReport, reportTempFolder: path.join(work, 'api-temp') };
    const config = ExtractorConfig.prepare({
      configObject,
      configObjectFullPath: configFile,
      packageJsonFullPath: path.join(repoRoot, 'package.json'),
    });
    const messages = [];
    const result = Extractor.invoke(config, {
      localBuild: !check,
      messageCallback: (message) => {
        // The report's own "changed / not copied" notices are replaced by the summary below.
        if (message.messageId.startsWith('console-api-report-')) message.handled = true;
        else if (message.logLevel === 'error' || message.logLevel === 'warning') messages.push(message.formatMessageWithLocation(repoRoot));
        message.handled = true;
      },
    });
    const checkedIn = path.join(repoRoot, 'api', `${report}.api.md`);
    for (const line of messages) console.error(`api-report: ${report}: ${line}`);
    if (result.errorCount > 0 || messages.length > 0) {
      failed = true;
      console.error(`api-report: ${report}: api-extractor reported ${result.errorCount} error(s) and ${messages.length} warning(s) (above).`);
    } else if (check && result.apiReportChanged) {
      failed = true;
      const fresh = path.join(work, 'api-temp', `${report}.api.md`);
      const diff = spawnSync('diff', ['-u', '--label', `api/${report}.api.md (checked in)`, '--label', `${report} (public API now)`, checkedIn, fresh], { encoding: 'utf8' });
      console.error(
        `api-report: the public API of ${report} differs from the checked-in report api/${report}.api.md. ` +
          `If the change is intended, run npm run api:report and review the diff:\n${diff.stdout || '(the report is missing)'}`,
      );
    } else {
      console.log(`api-report: ${report}: ${check ? 'matches' : result.apiReportChanged ? 'updated' : 'unchanged'} (api/${report}.api.md)`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
