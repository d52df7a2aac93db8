/**
 * Issue 19: the terminal works from the single-executable agent (`npm run build:agent`), whose PTY
 * comes from util-linux `script` and `stty` rather than a native addon. The agent runs alone in a
 * directory, with a PATH that holds those tools and a shell but no node; a control opens a terminal,
 * runs a command, resizes the window, and gets the shell's exit status. A command typed at once sees
 * the window's size even when `stty` is slow to start. With no `script` on its PATH, the agent
 * refuses the terminal and says why.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
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
/** The same tools, but an `stty` that takes 2 s to start: a machine too busy to size the pty at once. */
const slowTools = join(dir.path, 'slow-tools');
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
  for (const d of [machine, tools, empty, slowTools]) mkdirSync(d, { recursive: true });
  agentFile = join(machine, 'switchboard-agent');
  copyFileSync(build.path, agentFile);
  // What the terminal needs from the machine, and nothing else (no node).
  for (const tool of ['script', 'stty', 'sh', 'tty', 'tput']) symlinkSync(`/usr/bin/${tool}`, join(tools, tool));
  for (const tool of ['script', 'sh', 'tty', 'tput', 'sleep']) symlinkSync(`/usr/bin/${tool}`, join(slowTools, tool));
  writeFileSync(join(slowTools, 'stty'), '#!/bin/sh\nsleep 2\nexec /usr/bin/stty "$@"\n', { mode: 0o755 });
  server = await startServer(join(dir.path, 'data'));
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await startAgent('sea-shell', tools);
  await startAgent('sea-bare', empty);
  await startAgent('sea-slow', slowTools);
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

/** A terminal on `clientName` driven from the test: what it shows, and a wait for some text on it. */
async function openTerminal(clientName: string, size: WindowSize) {
  const control = await connectControl(server.address, key);
  const input = new PassThrough();
  const output = new PassThrough();
  let screen = '';
  output.on('data', (d: Buffer) => (screen += d.toString()));
  let resized = () => undefined as void;
  const exit = runShell(control, clientName, {
    input,
    output,
    size: () => size,
    onResize(listener) {
      resized = listener;
      return () => undefined;
    },
  });
  // A session that failed to open (or ended) says why at once; a slow one shows what it did show.
  let failed: unknown;
  exit.catch((err: unknown) => (failed = err));
  const shown = (text: string) =>
    waitFor(() => {
      if (failed) throw failed;
      return screen.includes(text);
    }, `${text} on the terminal`).catch((err: Error) => {
      throw new Error(`${err.message}; it shows ${JSON.stringify(screen)}`);
    });
  return {
    type: (keys: string) => input.write(keys),
    shown,
    resize(to: WindowSize) {
      size = to;
      resized();
    },
    async exit() {
      const status = await exit;
      control.close();
      return status;
    },
  };
}

test('a terminal on the single-executable agent: output, resize, exit status', async () => {
  const term = await openTerminal('sea-shell', { cols: 90, rows: 20 });
  term.type('echo "A$((6*7))B $(tput cols)"\n');
  await term.shown('A42B 90');
  term.resize({ cols: 100, rows: 30 });
  term.type('echo "C$(tput cols)D"\n');
  await term.shown('C100D');
  term.type('exit 5\n');
  assert.deepEqual(await term.exit(), { code: 5, signal: null });
});

test('a command typed at once sees the window size even when sizing the pty is slow', async () => {
  const term = await openTerminal('sea-slow', { cols: 91, rows: 21 });
  term.type('echo "E$(tput cols)x$(tput lines)F"\n');
  await term.shown('E91x21F');
  term.type('exit\n');
  assert.deepEqual(await term.exit(), { code: 0, signal: null });
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
