#!/usr/bin/env node
/**
 * Make `npm ci` accept a package-lock.json written against this workplace's npm registry.
 *
 * The registry here carries only some platforms' builds of native packages (e.g. no
 * @msgpackr-extract/msgpackr-extract-darwin-arm64, no @unrs/resolver-binding-darwin-arm64@1.13.0).
 * `npm install` then leaves those optional dependencies out of the lockfile, and `npm ci`
 * refuses the lockfile: "Missing: @unrs/resolver-binding-darwin-arm64@ from lock file".
 *
 * This adds, for each such package, the entry a full registry would have produced: version
 * (from its parent's optionalDependencies), optional, and os/cpu/libc read from the package
 * name, so npm skips it on this platform without fetching it. Nothing that installs on
 * linux-x64 changes. Idempotent; run it after any `npm install` that rewrites the lockfile:
 *
 *   node scripts/lock-fill-optional.mjs            # root package-lock.json
 *   node scripts/lock-fill-optional.mjs compat/nest12
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.resolve(repoRoot, process.argv[2] ?? '.');
const lockFile = path.join(dir, 'package-lock.json');

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'sunos', 'win32', 'aix', 'openharmony', 'netbsd'];
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el', 'wasm32'];

/** `@unrs/resolver-binding-linux-arm-musleabihf` -> { os: ['linux'], cpu: ['arm'], libc: ['musl'] } */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p));
  if (!os || !cpu) return undefined;
  const entry = { cpu: [cpu], os: [os] };
  const rest = parts.slice(parts.indexOf(cpu) + 1).join('-');
  if (os === 'linux') {
    if (/musl/.test(rest)) entry.libc = ['musl'];
    else if (/gnu|glibc/.test(rest)) entry.libc = ['glibc'];
  }
  return entry;
}

function missingFromCi() {
  const res = spawnSync('npm', ['ci', '--dry-run', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8' });
  const text = `${res.stdout}\n${res.stderr}`;
  const missing = [...text.matchAll(/Missing: (\S+?)@(\S*) from lock file/g)].map((m) => m[1]);
  return { ok: res.status === 0, missing, text };
}

const before = missingFromCi();
if (before.ok) {
  console.log(`lock-fill-optional: ${path.relative(repoRoot, lockFile) || 'package-lock.json'}: npm ci already accepts it`);
  process.exit(0);
}
if (before.missing.length === 0) {
  console.error(`lock-fill-optional: npm ci --dry-run fails for another reason:\n${before.text}`);
  process.exit(1);
}

const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const name of before.missing) {
  // Find the parent that lists it as an optional dependency, and the version it wants.
  const parentKey = Object.keys(packages).find((k) => packages[k].optionalDependencies?.[name]);
  if (!parentKey) {
    console.error(`lock-fill-optional: ${name} is missing but no package lists it in optionalDependencies`);
    process.exit(1);
  }
  const parent = packages[parentKey];
  const version = parent.optionalDependencies[name];
  const platform = platformOf(name);
  if (!/^\d+\.\d+\.\d+/.test(version) || !platform) {
    console.error(`lock-fill-optional: cannot derive an entry for ${name}@${version}`);
    process.exit(1);
  }
  const key = `node_modules/${name}`; // hoisted, as npm places them
  if (packages[key]) continue;
  packages[key] = {
    version,
    ...(platform.cpu ? { cpu: platform.cpu } : {}),
    ...(parent.dev ? { dev: true } : {}),
    ...(platform.libc ? { libc: platform.libc } : {}),
    optional: true,
    os: platform.os,
  };
  added++;
  console.log(`lock-fill-optional: + ${key}@${version} ${JSON.stringify(platform)}`);
}

// npm keeps "packages" sorted by key.
const root = packages[''];
const sorted = Object.fromEntries(
  Object.entries(packages)
    .filter(([k]) => k !== '')
    .sort(([a], [b]) => a.localeCompare(b, 'en')),
);
lock.packages = { '': root, ...sorted };
fs.writeFileSync(lockFile, `${JSON.stringify(lock, null, 2)}\n`);

const after = missingFromCi();
if (!after.ok) {
  console.error(`lock-fill-optional: added ${added} entries but npm ci --dry-run still fails:\n${after.text}`);
  process.exit(1);
}
console.log(`lock-fill-optional: added ${added} entries; npm ci accepts ${path.relative(repoRoot, lockFile) || 'package-lock.json'}`);
