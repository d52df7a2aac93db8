/**
 * Issue 2 item 5, the SSH part: `control forward` carries a real OpenSSH login and scp of a large
 * file both ways, byte for byte. Real sshd, ssh and scp; if they are missing the test fails.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  oneErrorLine,
  sha256File,
  startForwardProc,
  startTrackedClient,
  startTrackedServer,
  writeRandomFile,
} from './helpers/external.js';
import { addKey, runCli, tempDir, waitFor, type Proc, type RunningServer } from './helpers/harness.js';
import { startSshd, type Sshd } from './helpers/sshd.js';

const FILE_BYTES = 64 * 1024 * 1024;

const dir = tempDir('sb-ssh-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let sshd: Sshd | undefined;
let forwardPort: number;

before(async () => {
  server = await startTrackedServer(procs, join(dir.path, 'data'));
  key = await addKey(server.data, 'default');
  sshd = await startSshd(dir.path);
  await startTrackedClient(procs, [
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'ssh-box',
    '--state',
    join(dir.path, 'client'),
    '--allow-forward',
    String(sshd.port),
  ]);
  const forward = await startForwardProc(['--gateway', server.address, '--key', key], 'ssh-box', sshd.port);
  procs.push(forward.proc);
  forwardPort = forward.port;
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await sshd?.stop();
  dir.remove();
});

test('an OpenSSH login through control forward runs a command', async () => {
  const result = await sshd!.ssh(forwardPort, 'echo ok; echo "$USER" >&2; exit 7');
  assert.equal(result.code, 7, `ssh failed: ${result.stderr}\nsshd log:\n${sshd!.log().slice(-2000)}`);
  assert.equal(result.stdout, 'ok\n');
  assert.match(result.stderr, new RegExp(`^${sshd!.user}\\s*$`));
  // The session really went through the relay, to the sshd the client may reach.
  assert.match(sshd!.log(), /Accepted publickey for /);
});

test('scp of a 64 MiB random file through control forward, both ways, is byte for byte', async () => {
  const original = join(dir.path, 'original.bin');
  const uploaded = join(dir.path, 'uploaded.bin');
  const downloaded = join(dir.path, 'downloaded.bin');
  await writeRandomFile(original, FILE_BYTES);
  const want = await sha256File(original);

  const up = await sshd!.scp(forwardPort, original, `remote:${uploaded}`);
  assert.equal(up.code, 0, `scp upload failed: ${up.stderr}`);
  assert.equal(await sha256File(uploaded), want, 'the uploaded copy differs from the original');

  const down = await sshd!.scp(forwardPort, `remote:${uploaded}`, downloaded);
  assert.equal(down.code, 0, `scp download failed: ${down.stderr}`);
  assert.equal(await sha256File(downloaded), want, 'the downloaded copy differs from the original');

  // The relay reported both sessions with the bytes they carried (scp's own framing on top).
  await server.proc.waitForLine(
    (l) => l.msg === 'session closed' && Number(l.bytesToClient) >= FILE_BYTES,
    'the upload session closed',
  );
  await server.proc.waitForLine(
    (l) => l.msg === 'session closed' && Number(l.bytesFromClient) >= FILE_BYTES,
    'the download session closed',
  );
});

test('a port the client does not allow is refused at the forward, and sshd stays reachable', async () => {
  // Port 1 is not in --allow-forward: ssh sees the connection closed; the control says why.
  const refused = await startForwardProc(['--gateway', server.address, '--key', key], 'ssh-box', 1);
  procs.push(refused.proc);
  const result = await sshd!.ssh(refused.port, 'echo never');
  assert.notEqual(result.code, 0);
  assert.equal(result.stdout, '');
  await waitFor(() => /session to ssh-box:1 failed/.test(refused.proc.stderr), 'the refusal on the control');
  assert.match(refused.proc.stderr, /port 1 is not in this client's --allow-forward list/);
  const again = await sshd!.ssh(forwardPort, 'echo still-ok');
  assert.equal(again.stdout, 'still-ok\n', again.stderr);
});

test('a forward to an unknown client fails with one clear line', async () => {
  const result = await runCli([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    'forward',
    'no-such-client',
    '0:22',
  ]);
  assert.match(oneErrorLine(result), /no-such-client/);
});
