/**
 * docs/security.md, "Another user on the machine reads secrets": every process runs under a wide-open
 * umask (000), as a careless service manager might start it, and still everything Switchboard
 * writes is owner-only: the data directory 0700; switchboard.db, its -wal and -shm, and tls-key.pem
 * 0600; a client's --state directory 0700 and its client-key.pem 0600.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BIN, tempDir, waitFor } from './helpers/harness.js';

const dir = tempDir('sb-sec-files-');
const children: ChildProcess[] = [];

/** `switchboard ...` under umask 000; resolves with its output once `until` matches (or it exits). */
function underOpenUmask(
  args: string[],
  until?: RegExp,
): Promise<{ child: ChildProcess; stdout: () => string; code?: number | null }> {
  const child = spawn('/bin/sh', ['-c', 'umask 000 && exec "$@"', 'sh', process.execPath, BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`switchboard ${args.join(' ')}: no ${String(until)}; ${stderr}`)),
      30_000,
    );
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (until && !until.test(stdout)) reject(new Error(`switchboard ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ child, stdout: () => stdout, code });
    });
    if (until) {
      child.stdout!.on('data', () => {
        if (until.test(stdout)) {
          clearTimeout(timer);
          resolve({ child, stdout: () => stdout });
        }
      });
    }
  });
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
}

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  dir.remove();
});

test('under umask 000, the data directory, the store with its WAL, the TLS key and the client identity are owner-only', async () => {
  // The shell really is wide open: a file it makes itself is world-readable.
  const probe = join(dir.path, 'probe');
  await new Promise((r) => spawn('/bin/sh', ['-c', `umask 000 && touch ${probe}`]).once('exit', r));
  assert.equal(mode(probe), '0666');

  const data = join(dir.path, 'nested', 'data');
  const server = await underOpenUmask(
    ['server', '--data', data, '--listen', '127.0.0.1:0', '--tls-self-signed'],
    /"msg":"listening"/,
  );
  const address = /"address":"([^"]+)"/.exec(server.stdout())![1]!;
  const added = await underOpenUmask(['config', '--data', data, 'key', 'add', 'files']);
  assert.equal(added.code, 0);
  const key = added.stdout().trim();
  const state = join(dir.path, 'client', 'state');
  await underOpenUmask(
    ['client', '--gateway', address, '--key', key, '--name', 'files', '--state', state],
    /"status":"connected"/,
  );
  // An offline command that makes a store (--create) on a directory that does not exist yet creates it owner-only too.
  const offline = join(dir.path, 'offline');
  assert.equal((await underOpenUmask(['config', '--data', offline, '--create', 'key', 'add', 'x'])).code, 0);

  await waitFor(() => readdirSync(data).includes('switchboard.db-wal'), 'the WAL file');
  assert.equal(mode(data), '0700', 'data directory');
  assert.equal(mode(join(dir.path, 'nested')), '0700', 'and the directories made on the way');
  for (const f of ['switchboard.db', 'switchboard.db-wal', 'switchboard.db-shm', 'tls-key.pem'])
    assert.equal(mode(join(data, f)), '0600', f);
  for (const f of readdirSync(data))
    assert.equal(statSync(join(data, f)).mode & 0o077, 0, `${f} has no group or other bits`);
  assert.equal(mode(state), '0700', 'client state directory');
  assert.equal(mode(join(state, 'client-key.pem')), '0600', 'client identity key');
  assert.equal(mode(offline), '0700');
  for (const f of readdirSync(offline)) assert.equal(statSync(join(offline, f)).mode & 0o077, 0, `offline ${f}`);
});
