import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * Builds `dist/switchboard-agent`: the client as one file to copy onto a managed machine that has
 * no Node and no node_modules. Node's single executable applications: the client entry bundled
 * into one CommonJS script (esbuild), turned into a blob (`node --experimental-sea-config`) and
 * injected into a copy of this very node binary (postject). Run after `tsc` (npm run build:agent).
 */

/** The repository root, from dist/tools. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_PATH = join(ROOT, 'dist', 'switchboard-agent');

/** The fuse Node looks for to know that a blob was injected; fixed by Node for every release. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface AgentBuild {
  path: string;
  bytes: number;
  /** False when the agent on disk was already built from the same bundle and the same node. */
  rebuilt: boolean;
  ms: number;
}

/**
 * ws tries these optional native add-ons at load time and falls back to plain JavaScript when they
 * are missing. In the agent they resolve to a module that throws, which is that fallback, taken at
 * build time: left as runtime require()s, each start of the SEA printed a warning about them.
 */
const OPTIONAL_NATIVE_ADDONS = /^(bufferutil|utf-8-validate)$/;

const absentAddons: Plugin = {
  name: 'absent-native-addons',
  setup(b) {
    b.onResolve({ filter: OPTIONAL_NATIVE_ADDONS }, (args) => ({ path: args.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not part of the agent`)});`,
      loader: 'js',
    }));
  },
};

/** Runs a build step; its output is shown only if it fails. */
function quietly(file: string, args: string[]): void {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `${[file, ...args].join(' ')} failed (${result.error?.message ?? result.status ?? result.signal}):\n${result.stdout}${result.stderr}`,
    );
}

/** What the agent is made of: the bundled script, the node binary it runs in, and this recipe. */
function stampOf(bundle: Buffer, node: string): string {
  const nodeFile = statSync(node);
  return createHash('sha256')
    .update(bundle)
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .update(`\0${process.version}\0${node}\0${nodeFile.size}\0${nodeFile.mtimeMs}`)
    .digest('hex');
}

/**
 * Node's symbols and debug information are an eighth of the binary (100 -> 87 MB here) and of no
 * use on a managed machine; binutils' strip is on most build machines, and the agent works without it.
 */
function stripSymbols(file: string): void {
  try {
    execFileSync('strip', ['--strip-all', file], { stdio: 'ignore' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export async function buildAgent(options: { root?: string; out?: string } = {}): Promise<AgentBuild> {
  const started = Date.now();
  const root = options.root ?? ROOT;
  const out = resolve(options.out ?? AGENT_PATH);
  const work = join(root, 'dist', 'agent');
  // Each build its own scratch files: two at once (the test runner runs two test files at a time,
  // and both agent tests build) wrote one shared partial binary, and the second injection found
  // the first's blob in it. Only the finished agent and its stamp are shared, each replaced whole.
  const scratch = join(work, `build-${process.pid}`);
  mkdirSync(scratch, { recursive: true });
  try {
    return await buildIn(scratch, root, out, started);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function buildIn(scratch: string, root: string, out: string, started: number): Promise<AgentBuild> {
  const script = join(scratch, 'switchboard-agent.cjs');
  // The client's whole import graph in one script: SEA's require() sees only Node's built-in modules.
  // Nothing in it is native (the store's better-sqlite3 is the server's alone); logging goes to a
  // plain pino destination on stdout, never a transport (those load worker files from disk).
  await build({
    entryPoints: [join(root, 'dist', 'src', 'cli', 'agentMain.js')],
    outfile: script,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'eof',
    logLevel: 'error',
    plugins: [absentAddons],
  });
  const bundle = readFileSync(script);
  const stamp = stampOf(bundle, process.execPath);
  // Beside the agent it describes: an agent built elsewhere (`out`) must not vouch for this one.
  const stampFile = `${out}.stamp`;
  if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    return { path: out, bytes: statSync(out).size, rebuilt: false, ms: Date.now() - started };
  }

  const blob = join(scratch, 'sea-prep.blob');
  const config = join(scratch, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  quietly(process.execPath, ['--experimental-sea-config', config]);

  // Built beside the target and renamed into place: a half-written agent is never left at `out`.
  const partial = `${out}.${process.pid}.partial`;
  rmSync(partial, { force: true });
  mkdirSync(dirname(out), { recursive: true });
  copyFileSync(process.execPath, partial);
  chmodSync(partial, 0o755);
  stripSymbols(partial);
  // postject's own CLI, in a child: its ELF library warns on stderr about every note section it
  // does not name, which would bury the build's output; it is shown only when the injection fails.
  try {
    quietly(process.execPath, [
      createRequire(import.meta.url).resolve('postject/dist/cli.js'),
      partial,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      SEA_FUSE,
    ]);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  renameSync(partial, out);
  writeFileSync(stampFile, stamp);
  return { path: out, bytes: statSync(out).size, rebuilt: true, ms: Date.now() - started };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildAgent().then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (err: unknown) => {
      process.stderr.write(`build:agent: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
