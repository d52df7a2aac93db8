/**
 * The previous release of Switchboard, built from its git tag, for tests that run it beside the
 * current code (issue 20: a rolling upgrade). The build is cached under the temp directory, keyed by
 * the release's commit, so that only the first run pays for it.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './harness.js';

export interface Release {
  /** As in CHANGELOG.md and package.json, e.g. "0.2.0". */
  version: string;
  commit: string;
  /** The built tree: its bin/switchboard.js runs that release. */
  root: string;
  bin: string;
}

/** The released versions named in a CHANGELOG, newest first ("## 0.2.0 — date (...)"). */
export function releasedVersions(changelog: string): string[] {
  return [...changelog.matchAll(/^## (\d+\.\d+\.\d+)\b/gm)].map((m) => m[1]!);
}

function git(root: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim() };
}

function isShallow(root: string): boolean {
  return git(root, ['rev-parse', '--is-shallow-repository']).out === 'true';
}

/**
 * The commit of release `version`: its tag `vVERSION`, else (a clone that fetched no tags at all, as
 * some CI checkouts do) the oldest commit whose package.json carries that version. Undefined when the
 * history holds neither.
 */
function releaseCommit(root: string, version: string): string | undefined {
  const tagged = git(root, ['rev-parse', '--verify', '--quiet', `refs/tags/v${version}^{commit}`]);
  if (tagged.ok && tagged.out) return tagged.out;
  // A shallow history starts at a commit that seems to add every line: it cannot date a version.
  // And where tags were fetched, a release without one was never tagged (0.1.0): no guessing then.
  if (isShallow(root) || git(root, ['tag', '--list', 'v*']).out !== '') return undefined;
  const line = `"version": "${version.replaceAll('.', '\\.')}"`;
  const touched = git(root, ['log', '--format=%H', '-G', line, '--', 'package.json']);
  for (const commit of touched.ok ? touched.out.split('\n').filter(Boolean).reverse() : []) {
    const pkg = git(root, ['show', `${commit}:package.json`]);
    if (pkg.ok && (JSON.parse(pkg.out) as { version?: string }).version === version) return commit;
  }
  return undefined;
}

/** The clone lacks the release's commit (no tag and no history to find it by): fetch, then rerun. */
export class ReleaseNotInClone extends Error {}

/**
 * The release before the code under test: the newest release in CHANGELOG.md, unless the code under
 * test is that release's commit itself, then the one before it.
 */
export function previousRelease(root = ROOT): { version: string; commit: string } {
  if (!git(root, ['rev-parse', '--git-dir']).ok)
    throw new Error(`${root} is not a git repository: the rolling-upgrade test builds the previous release from git`);
  const versions = releasedVersions(readFileSync(join(root, 'CHANGELOG.md'), 'utf8'));
  const head = git(root, ['rev-parse', 'HEAD']).out;
  for (const [i, version] of versions.slice(0, 2).entries()) {
    const commit = releaseCommit(root, version);
    if (!commit) {
      const shallow = isShallow(root);
      throw new ReleaseNotInClone(
        `release ${version} (tag v${version}) is not in this clone${shallow ? ', a shallow one' : ''}: ` +
          `fetch it with \`git fetch ${shallow ? '--unshallow ' : ''}--tags origin\` and run the test again`,
      );
    }
    if (commit !== head || i === 1) return { version, commit };
  }
  throw new Error('CHANGELOG.md names no release before this one');
}

/** The dependency tree a package-lock.json pins, without the root package's own version. */
function lockedDependencies(lock: string): string {
  const parsed = JSON.parse(lock) as { packages?: Record<string, Record<string, unknown>> };
  const packages = { ...parsed.packages };
  const { version: _version, ...root } = packages[''] ?? {};
  packages[''] = root;
  return JSON.stringify(packages);
}

function run(cmd: string, args: string[], cwd: string, what: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(
      `${what} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error)).slice(-3000)}`,
    );
}

/**
 * Builds `release` from git into a cached directory (or finds it built) and returns it: the tree
 * from `git archive`, the current node_modules when the release locks the same dependencies (else
 * `npm ci --offline`), compiled with the release's own TypeScript (its sources only).
 */
export function buildRelease(release: { version: string; commit: string }): Release {
  const root = join(tmpdir(), `switchboard-release-${release.version}-${release.commit.slice(0, 12)}`);
  const done = (): Release => ({ ...release, root, bin: join(root, 'bin', 'switchboard.js') });
  if (existsSync(join(root, '.built'))) return done();

  // Built beside, then renamed into place, so that a run that dies half-way leaves no half build.
  const building = `${root}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  try {
    const tar = join(building, '..', `${release.commit}.${process.pid}.tar`);
    run(
      'git',
      ['-C', ROOT, 'archive', '--format=tar', '-o', tar, release.commit],
      ROOT,
      `git archive ${release.commit}`,
    );
    try {
      run('tar', ['-xf', tar, '-C', building], building, 'unpacking the release');
    } finally {
      rmSync(tar, { force: true });
    }
    const same =
      lockedDependencies(readFileSync(join(building, 'package-lock.json'), 'utf8')) ===
      lockedDependencies(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    if (same) symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(building, 'node_modules'));
    else
      run(
        'npm',
        ['ci', '--offline', '--no-audit', '--no-fund'],
        building,
        `release ${release.version} locks other dependencies than this tree, and installing them from npm's cache ` +
          '(npm ci --offline)',
      );
    // Only the sources: the bin needs dist/src, and the release's tests and benches would only cost time.
    writeFileSync(
      join(building, 'tsconfig.release.json'),
      JSON.stringify({ extends: './tsconfig.json', include: ['src/**/*.ts'] }),
    );
    run(
      process.execPath,
      [join(building, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.release.json'],
      building,
      `building release ${release.version} with its TypeScript`,
    );
    writeFileSync(join(building, '.built'), `${release.commit}\n`);
    try {
      renameSync(building, root);
    } catch (err) {
      // Another run built it meanwhile: use theirs.
      if (!existsSync(join(root, '.built'))) throw err;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return done();
}
