import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Duplex, Readable, Writable } from 'node:stream';
import { ControlClient } from '../src/control/controlClient.js';
import { encodeShellInput, ShellChannel, ShellFrameDecoder } from '../src/protocol/shellFrames.js';
import { startForwardProc } from '../test/helpers/external.js';
import { addKey, Proc, startServer } from '../test/helpers/harness.js';
import { startSshd } from '../test/helpers/sshd.js';
import type { Section } from './scaleSections.js';
import { mean, percentile, round, table } from './stats.js';

/**
 * Issue 19's keystroke echo: how long a key takes to come back on the screen, typed into a
 * terminal on a client through one server, two ways over the same server and client:
 *  - `control shell` (a shell session: the key in an input frame, the client's pty echoes it);
 *  - `ssh -tt` to a real sshd on the client's machine, over `control forward` (the way an operator
 *    gets a terminal without the shell session: SSH's encryption and sshd on top of the relay).
 * Each sample is one printable key written and its echo read back; a backspace after each (not
 * timed) keeps the line short. The ratio is shell p50 / ssh p50: below 1, the shell session is the
 * faster way to a terminal.
 */

/** The two ways to type into a terminal: write keys, and read what the terminal shows. */
interface Typist {
  write(bytes: Buffer): void;
  onScreen(listener: (text: string) => void): void;
  close(): void;
}

/** Waits until the terminal being measured shows `text` (after the call). */
function shows(text: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`the terminal did not show ${JSON.stringify(text)}: ${seen.slice(-300)}`)),
      timeoutMs,
    );
    pending.push((chunk) => {
      seen += chunk;
      if (!seen.includes(text)) return false;
      clearTimeout(timer);
      resolve();
      return true;
    });
  });
}
let pending: ((chunk: string) => boolean)[] = [];
function feed(chunk: string): void {
  pending = pending.filter((waiter) => !waiter(chunk));
}

async function measure(typist: Typist, samples: number, warmup: number): Promise<number[]> {
  pending = [];
  typist.onScreen(feed);
  // The shell is up once it runs a command.
  const ready = shows('READY42');
  typist.write(Buffer.from('echo READY$((6*7))\n'));
  await ready;
  const times: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const echoed = shows(key);
    const start = performance.now();
    typist.write(Buffer.from(key));
    await echoed;
    if (i >= warmup) times.push(performance.now() - start);
    const erased = shows('\b \b');
    typist.write(Buffer.from('\x7f'));
    await erased;
  }
  typist.close();
  return times;
}

function shellTypist(socket: Duplex): Typist {
  const decoder = ShellFrameDecoder.fromClient();
  return {
    write: (bytes) => socket.write(encodeShellInput(bytes)),
    onScreen(listener) {
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk))
          if (frame.channel === ShellChannel.output) listener(frame.data.toString('latin1'));
      });
    },
    close: () => socket.destroy(),
  };
}

function streamTypist(stdin: Writable, stdout: Readable, close: () => void): Typist {
  return {
    write: (bytes) => stdin.write(bytes),
    onScreen: (listener) => stdout.on('data', (chunk: Buffer) => listener(chunk.toString('latin1'))),
    close,
  };
}

function figures(times: number[]) {
  return {
    samples: times.length,
    p50: round(percentile(times, 50), 3),
    p99: round(percentile(times, 99), 3),
    mean: round(mean(times), 3),
  };
}

export async function keystrokeSection(quick: boolean, log: (line: string) => void): Promise<Section> {
  const samples = quick ? 100 : 1000;
  const warmup = quick ? 20 : 100;
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-keys-'));
  const procs: Proc[] = [];
  const sshd = await startSshd(dir);
  try {
    const server = await startServer(join(dir, 'data'));
    procs.push(server.proc);
    const key = await addKey(server.data, 'default');
    const client = new Proc(
      [
        'client',
        '--gateway',
        server.address,
        '--key',
        key,
        '--name',
        'keys',
        '--state',
        join(dir, 'client'),
        '--allow-shell',
        '--allow-forward',
        String(sshd.port),
      ],
      { SHELL: '/bin/sh' },
    );
    procs.push(client);
    await client.waitForLine((l) => l.status === 'connected', 'the bench client connected');

    // Alternate the two, twice, so that neither gets the quieter half of the run.
    const shell: number[] = [];
    const ssh: number[] = [];
    for (let round = 0; round < 2; round++) {
      log(`  keystroke echo: shell session, round ${round + 1}`);
      const control = await ControlClient.connect({ gateway: server.address, key, dial: { tls: false } });
      const socket = await control.open('keys', { kind: 'shell', cols: 80, rows: 24 });
      shell.push(...(await measure(shellTypist(socket), samples / 2, warmup)));
      control.close();

      log(`  keystroke echo: ssh over control forward, round ${round + 1}`);
      const forward = await startForwardProc(['--gateway', server.address, '--key', key], 'keys', sshd.port);
      procs.push(forward.proc);
      const child = spawn(
        'ssh',
        ['-tt', '-p', String(forward.port), ...sshd.clientOptions(), `${sshd.user}@127.0.0.1`, '/bin/sh'],
        { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } },
      );
      ssh.push(
        ...(await measure(
          streamTypist(child.stdin, child.stdout, () => child.kill()),
          samples / 2,
          warmup,
        )),
      );
      await forward.proc.stop();
    }
    const json = {
      shell: figures(shell),
      ssh: figures(ssh),
      p50Ratio: round(percentile(shell, 50) / percentile(ssh, 50), 3),
    };
    const lines = [
      'Keystroke echo round trip through one server (ms; a key typed, its echo back)',
      table(
        ['path', 'samples', 'p50', 'p99', 'mean'],
        [
          ['control shell (shell session)', json.shell.samples, json.shell.p50, json.shell.p99, json.shell.mean],
          ['ssh -tt over control forward', json.ssh.samples, json.ssh.p50, json.ssh.p99, json.ssh.mean],
        ],
      ),
      `shell / ssh p50 ratio: ${json.p50Ratio}`,
    ];
    return { key: 'keystroke', json, lines };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
