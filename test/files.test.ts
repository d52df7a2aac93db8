/**
 * `control cp` end to end, with a real server, a real client process with --allow-files, and the
 * control CLI: 200 MB each way with equal SHA-256, every way out of the allowed directory refused
 * (`..`, absolute, symlinks), and a transfer killed in the middle leaves nothing under the final name.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import { download, listRemote, upload } from '../src/control/copy.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { connectControl, controlCli, patternSha, patternStream, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-files-');
const allowed = join(dir.path, 'allowed');
const outside = join(dir.path, 'outside');
const local = join(dir.path, 'local');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let client: Proc;

const BIG = 200 * 1024 * 1024;

async function fileSha(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

/** Files whose name says they are partial (`.NAME.RANDOM.sb-part`), left in a directory. */
const partials = (path: string) => readdirSync(path).filter((n) => n.endsWith('.sb-part'));

const cp = (...args: string[]) => controlCli(server.address, key, ['cp', ...args], {}, { timeoutMs: 120_000 });

before(async () => {
  for (const d of [allowed, outside, local]) mkdirSync(d);
  writeFileSync(join(outside, 'secret.txt'), 'outside the allowed directory\n');
  mkdirSync(join(allowed, 'sub'));
  writeFileSync(join(allowed, 'sub', 'hello.txt'), 'hello\n');
  symlinkSync(outside, join(allowed, 'out')); // a directory link that leads out
  symlinkSync(join(outside, 'secret.txt'), join(allowed, 'evil.txt')); // a file link that leads out
  symlinkSync('sub/hello.txt', join(allowed, 'inside.txt')); // a link that stays inside: fine
  server = await startServer(join(dir.path, 'data'));
  procs.push(server.proc);
  key = await addKey(server.data, 'files');
  client = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'files-1',
    '--state',
    join(dir.path, 'c1'),
    '--allow-files',
    allowed,
  ]);
  procs.push(client);
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'nofiles',
      '--state',
      join(dir.path, 'c2'),
      '--allow-exec',
    ]),
  );
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test('cp: 200 MB up and 200 MB down through server and client processes, equal SHA-256 at every end', async () => {
  const source = join(local, 'big.bin');
  await pipeline(patternStream(BIG), createWriteStream(source));
  const expected = patternSha(BIG);

  const up = await cp('--json', source, 'files-1:sub/');
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(JSON.parse(up.stdout), {
    op: 'put',
    client: 'files-1',
    path: 'sub/big.bin',
    size: BIG,
    sha256: expected,
  });
  assert.equal(await fileSha(join(allowed, 'sub', 'big.bin')), expected);

  const back = join(local, 'back.bin');
  const down = await cp('files-1:sub/big.bin', back);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, new RegExp(`copied ${BIG} bytes to .*back\\.bin \\(sha256 ${expected}\\)`));
  assert.equal(await fileSha(back), expected);
  assert.deepEqual(partials(local), []);
  assert.deepEqual(partials(join(allowed, 'sub')), []);
  assert.equal(client.child.exitCode, null, client.stderr + client.stdout.slice(-3000));
});

test('cp and list: `..`, absolute paths and symlinks out of the directory are refused; nothing is read or written outside', async () => {
  const control = await connectControl(server.address, key);
  try {
    for (const path of [
      '../outside/secret.txt',
      'sub/../../outside/secret.txt',
      '/etc/passwd',
      'out/secret.txt',
      'evil.txt',
    ]) {
      await assert.rejects(
        download(control, 'files-1', path, join(local, 'stolen')),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'SB_ERR_POLICY_REFUSED', `${path}: ${err.message}`);
          return true;
        },
      );
    }
    assert.equal(existsSync(join(local, 'stolen')), false);
    for (const path of ['../planted.txt', '/tmp/planted.txt', 'out/planted.txt']) {
      await assert.rejects(
        upload(control, join(allowed, 'sub', 'hello.txt'), 'files-1', path),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'SB_ERR_POLICY_REFUSED', `${path}: ${err.message}`);
          return true;
        },
      );
    }
    assert.deepEqual(readdirSync(outside), ['secret.txt']);
    assert.equal(existsSync(join(dir.path, 'planted.txt')), false);
    await assert.rejects(listRemote(control, 'files-1', 'out'), /leads out of the allowed directory/);
    await assert.rejects(listRemote(control, 'files-1', '..'), /climbs out/);

    // What stays inside works: a link to a file inside, and a listing of the directory.
    const got = await download(control, 'files-1', 'inside.txt', join(local, 'inside.txt'));
    assert.equal(got.size, 6);
    const listing = await listRemote(control, 'files-1', '');
    assert.deepEqual(
      listing.entries.filter((e) => e.name !== 'big.bin').map((e) => [e.name, e.type]),
      [
        ['evil.txt', 'link'],
        ['inside.txt', 'link'],
        ['out', 'link'],
        ['sub', 'dir'],
      ],
    );

    // A client that did not allow files refuses, whatever the path.
    await assert.rejects(
      listRemote(control, 'nofiles', ''),
      /does not allow files \(start it with --allow-files DIR\)/,
    );
  } finally {
    control.close();
  }
  // The CLI says it too, with the code, and fails.
  const refused = await cp('files-1:../outside/secret.txt', join(local, 'x'));
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /climbs out with \.\./);
  assert.equal(existsSync(join(local, 'x')), false);
});

test('cp: an upload whose control is killed, and a download whose client is killed, leave no file under the final name', async () => {
  const source = join(local, 'big.bin');
  // The upload: kill -9 the control once the client has a partial file; the client removes it.
  const control = new Proc(['control', '--gateway', server.address, '--key', key, 'cp', source, 'files-1:cut-up.bin']);
  procs.push(control);
  // The receiver is held while the sender dies: 200 MiB could otherwise arrive whole in between.
  await waitFor(() => partials(allowed).length > 0, 'a partial upload on the client');
  client.child.kill('SIGSTOP');
  control.child.kill('SIGKILL');
  await control.exited;
  client.child.kill('SIGCONT');
  await waitFor(() => partials(allowed).length === 0, 'the partial upload removed by the client');
  assert.equal(existsSync(join(allowed, 'cut-up.bin')), false);

  // The download: kill -9 the client once the control has a partial file; the control removes it and fails.
  const getter = new Proc([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    'cp',
    'files-1:sub/big.bin',
    join(local, 'cut-down.bin'),
  ]);
  procs.push(getter);
  await waitFor(() => partials(local).length > 0, 'a partial download on the control');
  getter.child.kill('SIGSTOP');
  client.child.kill('SIGKILL');
  await client.exited;
  getter.child.kill('SIGCONT');
  const code = await getter.exited;
  assert.notEqual(code, 0);
  assert.match(getter.stderr, /cut after \d+ of 209715200 bytes/);
  assert.equal(existsSync(join(local, 'cut-down.bin')), false);
  assert.deepEqual(partials(local), []);
});
