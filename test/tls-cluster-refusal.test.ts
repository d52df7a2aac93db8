/**
 * Issue 18: a member whose primary presents a certificate it does not trust (a wrong or stale
 * --primary-fingerprint) is told once, as a warning naming the primary and the flag to fix, and
 * keeps retrying quietly: no line per retry.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from './helpers/api.js';
import { Proc, startServer, tempDir } from './helpers/harness.js';
import { stopAll } from './helpers/sb.js';

const dir = tempDir('sb-tls-refusal-');
const procs: Proc[] = [];
const env = { SWITCHBOARD_CLUSTER_SECRET: 'tls-refusal-cluster-secret-0123456789' };

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test('a member that does not trust its primary certificate warns once, naming it and --primary-fingerprint', async () => {
  const [pp, mp] = [await freePort(), await freePort()];
  const primary = await startServer(
    join(dir.path, 'primary'),
    ['--role', 'primary', '--advertise', `127.0.0.1:${pp}`, '--tls-self-signed'],
    env,
    `127.0.0.1:${pp}`,
  );
  procs.push(primary.proc);
  const wrongPin = `spki:sha256/${Buffer.alloc(32, 7).toString('base64')}`;
  const member = new Proc(
    [
      'server',
      '--data',
      join(dir.path, 'member'),
      '--role',
      'member',
      '--listen',
      `127.0.0.1:${mp}`,
      '--advertise',
      `127.0.0.1:${mp}`,
      '--primary',
      primary.address,
      '--primary-fingerprint',
      wrongPin,
      '--tls-self-signed',
    ],
    env,
  );
  procs.push(member);
  const warning = await member.waitForLine(
    (l) => l.level === 40 && String(l.msg).startsWith(`cannot link to ${primary.address}`),
    'the certificate warning',
    30_000,
  );
  assert.match(String(warning.msg), /--primary-fingerprint/);
  assert.match(String(warning.err), /does not match the pinned/);
  // It keeps retrying (backoff from 0.5 s): several attempts later, still that one warning.
  const from = member.lines.length;
  await new Promise((r) => setTimeout(r, 6000));
  const later = member.lines.slice(from).filter((l) => Number(l.level) >= 30);
  assert.deepEqual(later, [], 'no line per retry');
  assert.equal(member.lines.filter((l) => String(l.msg).startsWith('cannot link to')).length, 1);
});
