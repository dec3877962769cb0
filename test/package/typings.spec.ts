/**
 * The packed tarball, checked the way a registry user meets it: `@arethetypeswrong/cli` resolves
 * every entry's typings under node10, node16 (from CJS and from ESM) and bundler; `publint` lints
 * the package as extracted; and the file list and metadata are what a user needs (LICENSE,
 * CHANGELOG, absolute README links) and nothing else (no tests, maps or tsbuildinfo).
 *
 * The tarball does not depend on the Nest major, so this runs in the Nest 11 run only.
 */
import { jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packedTarball } from '../support/packed-package.js';
import { repoRoot } from '../support/paths.js';

// attw takes ~3 s per tarball on an idle 2-core box; the margin is for a busy one.
jest.setTimeout(120_000);

const ENTRIES = ['.', './health', './dashboard', './testing', './opentelemetry'];
const RESOLUTIONS = ['node10', 'node16-cjs', 'node16-esm', 'bundler'];
const describeNest11 = process.env.NEST_MAJOR === '12' ? describe.skip : describe;

/**
 * publint suggestions left on purpose, each with its reason. Errors and warnings: none allowed.
 * - USE_SIDE_EFFECTS: `"sideEffects": false` would let a bundler drop a module it thinks unused;
 *   a wrong claim there breaks a bundled app silently, a missing one only costs bundle size, and
 *   Nest server apps are rarely tree-shaken.
 */
const ALLOWED_PUBLINT_SUGGESTIONS = ['USE_SIDE_EFFECTS'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with stdout in a file: attw exits through process.exit, which can cut a piped stdout short. */
function runNode(args: string[], cwd: string): Promise<Run> {
  const outFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-typings-')), 'stdout');
  const out = fs.openSync(outFile, 'w');
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, args, { cwd, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.once('close', (code) => {
      fs.closeSync(out);
      const stdout = fs.readFileSync(outFile, 'utf8');
      fs.rmSync(path.dirname(outFile), { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

interface AttwResolution {
  resolution?: { fileName: string; isTypeScript: boolean };
}
interface AttwReport {
  analysis: {
    problems: Array<{ kind: string; entrypoint?: string; resolutionKind?: string }>;
    entrypoints: Record<string, { resolutions: Record<string, AttwResolution> }>;
  };
}

async function attw(tarball: string): Promise<AttwReport> {
  const cli = path.join(repoRoot, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
  // --profile strict: every resolution kind counts (node16 and esm-only profiles ignore some).
  const run = await runNode([cli, tarball, '--format', 'json', '--profile', 'strict', '--no-color'], repoRoot);
  try {
    return JSON.parse(run.stdout) as AttwReport;
  } catch {
    throw new Error(`attw printed no JSON (exit ${run.code}):\n${run.stdout.slice(0, 2000)}\n${run.stderr}`);
  }
}

function extract(tarball: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-extracted-'));
  const res = spawnTar(['-xzf', tarball, '-C', dir]);
  if (res) throw new Error(`tar -xzf ${tarball}: ${res}`);
  return dir;
}

function spawnTar(args: string[], cwd?: string): string | undefined {
  const res = spawnSync('tar', args, { cwd, encoding: 'utf8' });
  return res.status === 0 ? undefined : res.stderr;
}

describeNest11('the packed tarball', () => {
  let tarball: string;
  let extracted: string;
  const pkgDir = (): string => path.join(extracted, 'package');

  beforeAll(async () => {
    tarball = await packedTarball();
    extracted = extract(tarball);
  }, 300_000);

  afterAll(() => {
    if (extracted) fs.rmSync(extracted, { recursive: true, force: true });
  });

  describe('typings (@arethetypeswrong/cli)', () => {
    it('finds no problem in any entry under any resolution', async () => {
      const report = await attw(tarball);
      expect(report.analysis.problems).toEqual([]);
      expect(Object.keys(report.analysis.entrypoints)).toEqual(expect.arrayContaining(ENTRIES));
      for (const entry of ENTRIES) {
        const resolutions = report.analysis.entrypoints[entry]!.resolutions;
        for (const kind of RESOLUTIONS) {
          // Each entry resolves to a declaration file of this package, not to untyped JS.
          expect({ entry, kind, types: resolutions[kind]?.resolution?.fileName }).toEqual({
            entry,
            kind,
            types: expect.stringMatching(/^\/node_modules\/nest-hosting\/dist\/.+\.d\.ts$/),
          });
        }
      }
    });

    it('reports the node10 subpath failure when typesVersions is missing (the check can fail)', async () => {
      // The same tarball with typesVersions removed: what issue 10 reported (TS2307 under node10).
      const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-broken-'));
      try {
        fs.cpSync(pkgDir(), path.join(broken, 'package'), { recursive: true });
        const manifestPath = path.join(broken, 'package', 'package.json');
        const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
        delete manifest.typesVersions;
        fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
        const brokenTgz = path.join(broken, 'broken.tgz');
        expect(spawnTar(['-czf', brokenTgz, 'package'], broken)).toBeUndefined();

        const report = await attw(brokenTgz);
        const node10 = report.analysis.problems
          .filter((p) => p.resolutionKind === 'node10')
          .map((p) => `${p.kind} ${p.entrypoint}`)
          .sort();
        expect(node10).toEqual(['NoResolution ./dashboard', 'NoResolution ./health', 'NoResolution ./opentelemetry', 'NoResolution ./testing']);
      } finally {
        fs.rmSync(broken, { recursive: true, force: true });
      }
    });
  });

  describe('publint', () => {
    it('reports no error or warning, and only the suggestions justified above', async () => {
      // publint is ESM-only: its Node API runs in a child, on the extracted files as packed.
      const script = `
        import { publint } from 'publint';
        import { formatMessage } from 'publint/utils';
        import * as fs from 'node:fs';
        const pkgDir = process.argv[1];
        const pkg = JSON.parse(fs.readFileSync(pkgDir + '/package.json', 'utf8'));
        const { messages } = await publint({ pkgDir, pack: false, level: 'suggestion', strict: false });
        console.log(JSON.stringify(messages.map((m) => ({ type: m.type, code: m.code, text: formatMessage(m, pkg) }))));
      `;
      const run = await runNode(['--input-type=module', '-e', script, pkgDir()], repoRoot);
      expect(run.stderr).toBe('');
      const messages = JSON.parse(run.stdout) as Array<{ type: string; code: string; text: string }>;
      expect(messages.filter((m) => m.type !== 'suggestion')).toEqual([]);
      expect(messages.filter((m) => !ALLOWED_PUBLINT_SUGGESTIONS.includes(m.code))).toEqual([]);
    });
  });

  describe('contents and metadata', () => {
    it('ships the builds, LICENSE, CHANGELOG and README, and no tests, maps or build info', () => {
      const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .map((f) => f.replace(/^package\//, ''));
      expect(files).toEqual(expect.arrayContaining(['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']));
      for (const entry of ['index', 'health/index', 'dashboard/index', 'testing/index', 'opentelemetry/index']) {
        for (const format of ['cjs', 'esm']) {
          expect(files).toEqual(expect.arrayContaining([`dist/${format}/${entry}.js`, `dist/${format}/${entry}.d.ts`]));
        }
      }
      const unexpected = files.filter(
        (f) =>
          !['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json'].includes(f) &&
          !/^dist\/(cjs|esm)\/[\w./-]+\.(js|d\.ts|json)$/.test(f),
      );
      expect(unexpected).toEqual([]);
      expect(files.filter((f) => /\.(map|tsbuildinfo)$|\.spec\.|(^|\/)test\//.test(f))).toEqual([]);
    });

    it('names its license, repository, homepage and issue tracker, and no express peer', () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir(), 'package.json'), 'utf8')) as {
        license: string;
        repository: { type: string; url: string };
        homepage: string;
        bugs: { url: string };
        peerDependencies: Record<string, string>;
        peerDependenciesMeta: Record<string, unknown>;
      };
      expect(manifest.license).toBe('MIT');
      expect(fs.readFileSync(path.join(pkgDir(), 'LICENSE'), 'utf8')).toMatch(
        /^MIT License\n\nCopyright \(c\) 2026 nest-hosting contributors\n/,
      );
      expect(manifest.repository).toEqual({ type: 'git', url: 'git+https://github.com/nest-hosting/nest-hosting.git' });
      expect(manifest.homepage).toMatch(/^https:\/\/github\.com\/nest-hosting\/nest-hosting/);
      expect(manifest.bugs.url).toBe('https://github.com/nest-hosting/nest-hosting/issues');
      // The dashboard is plain Nest controllers: nothing of an HTTP adapter is imported.
      expect(Object.keys(manifest.peerDependencies)).not.toContain('@nestjs/platform-express');
      expect(Object.keys(manifest.peerDependenciesMeta)).not.toContain('@nestjs/platform-express');
      const shipped = spawnSync('grep', ['-rl', 'platform-express', path.join(pkgDir(), 'dist')], { encoding: 'utf8' });
      expect(shipped.stdout).toBe('');
    });

    it('has only absolute links in its README, so they work on the registry page', () => {
      const readme = fs.readFileSync(path.join(pkgDir(), 'README.md'), 'utf8');
      // Markdown links/images and HTML src/href: the target must be http(s), mailto or an in-page anchor.
      const targets = [
        ...[...readme.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)/g)].map((m) => m[1]!),
        ...[...readme.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!),
        ...[...readme.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!),
      ];
      expect(targets.length).toBeGreaterThan(0);
      expect(targets.filter((t) => !/^(https?:\/\/|mailto:|#)/.test(t))).toEqual([]);
    });
  });
});
