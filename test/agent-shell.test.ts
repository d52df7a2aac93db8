/**
 * Issue 19: the terminal works from the single-executable agent (`npm run build:agent`), whose PTY
 * comes from util-linux `script` and `stty` rather than a native addon. The agent runs alone in a
 * directory, with a PATH that holds those tools and a shell but no node; a control opens a terminal,
 * runs a command, resizes the window, and gets the shell's exit status. With no `script` on its
 * PATH, the agent refuses the terminal and says why.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { runShell } from '../src/control/shell.js';
import type { WindowSize } from '../src/protocol/shellFrames.js';
import { buildAgent } from '../tools/buildAgent.js';
import { addKey, Proc, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { connectControl, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-agent-shell-');
const machine = join(dir.path, 'machine');
const tools = join(dir.path, 'tools');
const empty = join(dir.path, 'empty');
let agentFile: string;
let server: RunningServer;
let key: string;
const procs: Proc[] = [];

async function startAgent(name: string, path: string): Promise<void> {
  const agent = new Proc(
    ['--gateway', server.address, '--key', key, '--name', name, '--state', join(machine, name), '--allow-shell'],
    {},
    { file: agentFile, cwd: machine, env: { PATH: path, SHELL: '/bin/sh', HOME: machine } },
  );
  procs.push(agent);
  await agent.waitForLine((l) => l.status === 'connected', `${name} connected`, 60_000);
}

before(async () => {
  const build = await buildAgent();
  for (const d of [machine, tools, empty]) mkdirSync(d, { recursive: true });
  agentFile = join(machine, 'switchboard-agent');
  copyFileSync(build.path, agentFile);
  // What the terminal needs from the machine, and nothing else (no node).
  for (const tool of ['script', 'stty', 'sh', 'tty', 'tput']) symlinkSync(`/usr/bin/${tool}`, join(tools, tool));
  server = await startServer(join(dir.path, 'data'));
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await startAgent('sea-shell', tools);
  await startAgent('sea-bare', empty);
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test('a terminal on the single-executable agent: output, resize, exit status', async () => {
  const control = await connectControl(server.address, key);
  const input = new PassThrough();
  let screen = '';
  const output = new PassThrough();
  output.on('data', (d: Buffer) => (screen += d.toString()));
  let size: WindowSize = { cols: 90, rows: 20 };
  let resized = () => undefined as void;
  const exit = runShell(control, 'sea-shell', {
    input,
    output,
    size: () => size,
    onResize(listener) {
      resized = listener;
      return () => undefined;
    },
  });
  input.write('echo "A$((6*7))B $(tput cols)"\n');
  await waitFor(() => screen.includes('A42B 90'), `A42B 90 on the terminal; got ${JSON.stringify(screen)}`);
  size = { cols: 100, rows: 30 };
  resized();
  input.write('echo "C$(tput cols)D"\n');
  await waitFor(() => screen.includes('C100D'), `C100D on the terminal; got ${JSON.stringify(screen)}`);
  input.write('exit 5\n');
  assert.deepEqual(await exit, { code: 5, signal: null });
  control.close();
});

test('an agent with no `script` on its PATH refuses the terminal and says why', async () => {
  const control = await connectControl(server.address, key);
  const never = () => () => undefined;
  await assert.rejects(
    runShell(control, 'sea-bare', {
      input: new PassThrough(),
      output: new PassThrough(),
      size: () => ({ cols: 80, rows: 24 }),
      onResize: never,
    }),
    /cannot open a terminal: script \(util-linux\) is not on its PATH/,
  );
  control.close();
});
