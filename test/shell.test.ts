/**
 * Issue 19, the terminal from the CLI: `switchboard control shell CLIENT` under a real pseudo-terminal
 * (tmux) against a real server and client: a command's output, the window size seen by `tput cols`
 * before and after a resize, Ctrl-C stopping `sleep 100`, the remote exit status as the CLI's, the
 * session audited with its bytes; and a client without --allow-shell refuses, saying how to allow it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { oneErrorLine, startTrackedClient, startTrackedServer } from './helpers/external.js';
import { addKey, binSpawn, Proc, runCli, tempDir, type RunningServer } from './helpers/harness.js';
import { shellWord, Tmux } from './helpers/tmux.js';

const dir = tempDir('sb-shell-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let tmux: Tmux;

before(async () => {
  server = await startTrackedServer(procs, join(dir.path, 'data'));
  key = await addKey(server.data, 'default');
  const common = ['--gateway', server.address, '--key', key];
  // The client's shell is its own choice: here its $SHELL, /bin/sh.
  const shellClient = new Proc(
    ['client', ...common, '--name', 'term-box', '--state', join(dir.path, 'c1'), '--allow-shell'],
    { SHELL: '/bin/sh' },
  );
  procs.push(shellClient);
  await shellClient.waitForLine((l) => l.status === 'connected', 'the shell client connected');
  await startTrackedClient(procs, [...common, '--name', 'closed-box', '--state', join(dir.path, 'c2'), '--allow-exec']);
  tmux = new Tmux({ ...process.env, SHELL: '/bin/sh' });
});

after(async () => {
  await tmux?.stop();
  await Promise.all(procs.map((p) => p.stop()));
  dir.remove();
});

test('control shell under a real terminal: output, resize, Ctrl-C, exit status, audit', async () => {
  const run = binSpawn(['control', '--gateway', server.address, '--key', key, 'shell', 'term-box'], {
    SHELL: '/bin/sh',
  });
  const line = [process.execPath, ...run.argv].map(shellWord).join(' ');
  const env = Object.entries(run.env)
    .filter(([name, value]) => value !== undefined && /^[A-Z_][A-Z0-9_]*$/.test(name))
    .map(([name, value]) => `${name}=${shellWord(value!)}`)
    .join(' ');
  await tmux.start('t', `env ${env} ${line}; echo "SB_EXIT=$?"; sleep 600`, 120, 40);

  // Typed before the remote shell's first prompt, the line is echoed by the pty first and the prompt
  // then comes before the output: "# 42" (the CI run of 0653f5a saw it).
  await tmux.type('t', 'echo $((6*7))');
  await tmux.waitForLine('t', /(^|# |\$ )42$/);

  await tmux.type('t', 'echo "A$(tput cols)B"');
  await tmux.waitForLine('t', 'A120B');
  await tmux.resize('t', 100, 30);
  await tmux.type('t', 'echo "C$(tput cols)D"');
  await tmux.waitForLine('t', 'C100D');

  // Ctrl-C reaches the remote foreground process: sleep stops long before its 100 s and the shell answers.
  await tmux.type('t', 'sleep 100');
  await tmux.waitForLine('t', /sleep 100$/);
  await tmux.keys('t', 'C-c');
  await tmux.type('t', 'echo "E$((2+3))F"');
  await tmux.waitForLine('t', /(^|# |\$ )E5F$/);

  await tmux.type('t', 'exit 7');
  await tmux.waitForLine('t', 'SB_EXIT=7');

  const closed = await server.proc.waitForLine(
    (l) => l.msg === 'session closed' && (l.target as { kind?: string } | undefined)?.kind === 'shell',
    'the shell session audited',
  );
  assert.ok(Number(closed.bytesToClient) > 0, 'keystrokes were counted');
  assert.ok(Number(closed.bytesFromClient) > 0, 'output was counted');
  assert.ok(Number(closed.durationMs) >= 0);
});

test('a client without --allow-shell refuses a terminal and says how to allow it', async () => {
  const result = await runCli(['control', '--gateway', server.address, '--key', key, 'shell', 'closed-box']);
  const line = oneErrorLine(result);
  assert.match(line, /does not allow terminals \(start it with --allow-shell\)/);
});
