import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildAgent, type AgentBuild } from '../tools/buildAgent.js';
import { VERSION } from '../src/cli/version.js';
import { addKey, Proc, ROOT, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { connectTcp, echoRoundTrip, echoService, startForwardProc, stopAll, type Service } from './helpers/sb.js';

/**
 * `dist/switchboard-agent`, the client as one file: built once here (or reused when the agent on
 * disk was built from the same bundle and node), copied alone into an empty directory and run
 * with a PATH that holds no node and no other environment, against a real server.
 */

const dir = tempDir('sb-agent-');
const machine = join(dir.path, 'machine');
const emptyBin = join(dir.path, 'empty-bin');
/** All the environment the agent gets: `env -i PATH=<a directory with nothing in it>`. */
const bareEnv = { PATH: emptyBin };
let agentFile: string;
let build: AgentBuild;
let server: RunningServer;
let key: string;
let echo: Service;
const procs: Proc[] = [];

function runAgent(args: string[]) {
  return spawnSync(agentFile, args, { cwd: machine, env: bareEnv, encoding: 'utf8', timeout: 30_000 });
}

before(async () => {
  build = await buildAgent();
  for (const d of [machine, emptyBin]) spawnSync('mkdir', ['-p', d]);
  agentFile = join(machine, 'switchboard-agent');
  copyFileSync(build.path, agentFile);
  spawnSync('chmod', ['755', agentFile]);
  server = await startServer(join(dir.path, 'data'));
  key = await addKey(server.data, 'default');
  echo = await echoService();
});

after(async () => {
  await stopAll([...procs, server.proc]);
  await echo.close();
  dir.remove();
});

test('the agent is one file, in a directory of its own, on a machine where no node is on the PATH', (t) => {
  t.diagnostic(`agent ${(build.bytes / 1e6).toFixed(1)} MB, ${build.rebuilt ? 'built' : 'reused'} in ${build.ms} ms`);
  assert.deepEqual(readdirSync(machine), ['switchboard-agent']);
  assert.ok(statSync(agentFile).mode & 0o100, 'executable');
  const which = spawnSync('/bin/sh', ['-c', 'command -v node'], { env: bareEnv, encoding: 'utf8' });
  assert.notEqual(which.status, 0, `node must not be found, found ${which.stdout}`);
});

test('--version and --help work from the agent alone', () => {
  const version = runAgent(['--version']);
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  assert.equal(
    VERSION,
    (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    'one version everywhere',
  );
  assert.equal(version.stderr, '', 'no warning on stderr');
  const help = runAgent(['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: switchboard-agent \(--gateway HOST:PORT .*\) \[options\]\n\n/);
  // The same flags as `switchboard client`: the agent is that command.
  for (const flag of [
    '--gateway',
    '--secondary',
    '--key-file',
    '--allow-forward',
    '--allow-exec',
    '--proxy',
    '--tls-fingerprint',
    '--ca',
  ])
    assert.ok(help.stdout.includes(flag), flag);
});

test('a bad flag is one line on stderr and a non-zero exit', () => {
  const result = runAgent(['--gateway', server.address]);
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /^switchboard-agent: a key is required/);
});

test('the agent connects and serves a forward session end to end', async (t) => {
  const started = Date.now();
  const agent = new Proc(
    ['--gateway', server.address, '--key', key, '--name', 'sea-agent', '--allow-forward', String(echo.port)],
    {},
    { file: agentFile, cwd: machine, env: bareEnv },
  );
  procs.push(agent);
  await agent.waitForLine((l) => l.status === 'connected', 'agent connected', 60_000);
  t.diagnostic(`start-up to connected: ${Date.now() - started} ms`);
  // It keeps its identity beside itself, like the client does (its --state default).
  assert.deepEqual(readdirSync(machine).sort(), ['.switchboard-client', 'switchboard-agent']);

  const forward = await startForwardProc(server.address, key, 'sea-agent', echo.port);
  procs.push(forward.proc);
  const socket = await connectTcp(forward.port);
  assert.equal(await echoRoundTrip(socket, 'through the single executable'), 'through the single executable');
  socket.destroy();
  await agent.waitForLine((l) => l.msg === 'session opened', 'the agent logs the session');
  assert.equal(agent.stderr, '', 'no warning on stderr');

  assert.equal(await agent.stop(), 0, 'SIGTERM stops the agent cleanly');
});

test('two builds at once into the same place both succeed, and the agent they leave runs', async () => {
  // Two processes, as the test runner's two at a time are: each its own scratch files and partial binary.
  const out = join(dir.path, 'concurrent', 'switchboard-agent');
  const script = `import(${JSON.stringify(join(ROOT, 'dist', 'tools', 'buildAgent.js'))}).then((m) => m.buildAgent({ out: process.argv[1] })).then((r) => console.log(JSON.stringify(r)))`;
  const builds = [0, 1].map(
    () => new Proc(['-e', script, out], {}, { file: process.execPath, cwd: ROOT, env: process.env }),
  );
  const codes = await Promise.all(builds.map((b) => b.exited));
  for (const [i, code] of codes.entries()) assert.equal(code, 0, `build ${i}: ${builds[i]!.stderr}`);
  const version = spawnSync(out, ['--version'], { env: bareEnv, encoding: 'utf8', timeout: 30_000 });
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, new RegExp(VERSION.replace(/\./g, '\\.')));
  assert.deepEqual(
    readdirSync(join(dir.path, 'concurrent')).sort(),
    ['switchboard-agent', 'switchboard-agent.stamp'],
    'no partial binary left behind',
  );
});
