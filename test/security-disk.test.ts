/**
 * docs/security.md, "A full disk": with the data directory's disk full, a server keeps relaying.
 * Audit records it cannot write (failed and good logins on the control channel and the API, a
 * session closing) wait in memory and are counted in /metrics, with one log line for the trouble
 * rather than one per event; configuration changes (`config --data`, the REST API) fail with a clear
 * error and change nothing; a member keeps serving and retries the configuration it had no room
 * for. Once there is room again, the waiting records are written and changes work, and nothing
 * saved before is lost.
 *
 * For real: a small tmpfs mounted as the data directory (so this needs root, as CI has), a real
 * server process, a real client and control, and a file that fills the disk until ENOSPC.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ControlClient } from '../src/control/controlClient.js';
import { addOperator, login, request, seriesValue } from './helpers/api.js';
import {
  addKey,
  Proc,
  runCli,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from './helpers/harness.js';
import {
  connectControl,
  echoRoundTrip,
  echoService,
  freePort,
  processAlive,
  stopAll,
  type Service,
} from './helpers/sb.js';

const ADMIN = { operator: 'admin', password: 'disk-admin-password-1' };
const FAILED_LOGINS = 8;
const FAILING_LOG = 'the store refuses writes (disk full?): audit records wait in memory and are retried';
const RECOVERED_LOG = 'the store takes writes again: waiting audit records written';

const asRoot = process.getuid?.() === 0;
const NEEDS_ROOT = asRoot ? false : 'needs root to mount a small tmpfs as the data directory (CI runs as root)';

/** A data directory on its own 8 MB tmpfs, so that filling it fills nothing else. */
function smallDisk(parent: string): string {
  const path = join(parent, 'data');
  mkdirSync(path, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', path]);
  return path;
}

/** Writes a file until the disk says ENOSPC, big chunks first, then small ones for the last pages. */
function fillDisk(dir: string): string {
  const file = join(dir, 'fill');
  const fd = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 64]) {
      const chunk = Buffer.alloc(size, 0x5a);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

async function metric(address: string, series: string): Promise<number> {
  const answer = await request(address, 'GET', '/metrics');
  assert.equal(answer.status, 200);
  return seriesValue(answer.text, series) ?? 0;
}

/** A session through the server to the echo service: opened, used, closed. */
async function roundTrip(control: ControlClient, text: string, port: number): Promise<void> {
  const socket = (await control.open('disk-1', { kind: 'forward', port })) as net.Socket;
  try {
    assert.equal(await echoRoundTrip(socket, text), text);
  } finally {
    socket.destroy();
  }
}

function unmount(path: string): void {
  try {
    execFileSync('umount', [path], { stdio: 'pipe' });
  } catch {
    // Something still holds a file there (a process not yet reaped): detach it now, freed when released.
    execFileSync('umount', ['-l', path], { stdio: 'pipe' });
  }
}

test(
  'a full data disk: logins, failed logins and sessions go on (audit records wait, counted, one log line); config changes fail with SB_ERR_STORE_FULL; all resumes with space',
  { skip: NEEDS_ROOT },
  async () => {
    const dir = tempDir('sb-disk-');
    const data = smallDisk(dir.path);
    const procs: Proc[] = [];
    let echo: Service | undefined;
    let control: ControlClient | undefined;
    try {
      const key = await addKey(data, 'disk');
      await addOperator(data, ADMIN.operator, ADMIN.password, 'admin');
      // Failed logins here are the point: none may be refused for lockout before it is audited.
      assert.equal((await runCli(['config', '--data', data, 'set', 'lockout-attempts', '1000'])).code, 0);
      const server: RunningServer = await startServer(data);
      procs.push(server.proc);
      echo = await echoService();
      procs.push(
        await startClient([
          '--gateway',
          server.address,
          '--key',
          key,
          '--name',
          'disk-1',
          '--state',
          join(dir.path, 'client'),
          '--allow-forward',
          String(echo.port),
        ]),
      );
      control = await connectControl(server.address, key, ADMIN);
      await roundTrip(control, 'before the disk filled', echo.port);
      const admin = await login(server.address, ADMIN.operator, ADMIN.password);
      const auditBefore = (await request(server.address, 'GET', 'audit?limit=1000', undefined, { token: admin.token }))
        .body as { action: string }[];

      const fill = fillDisk(data);
      const fullAt = new Date().toISOString();

      // ---- on a full disk: the traffic that writes audit records ---------------------------------
      for (let i = 0; i < FAILED_LOGINS; i++) {
        await assert.rejects(
          connectControl(server.address, key, { operator: ADMIN.operator, password: `wrong-${i}` }),
          /wrong operator name or password/,
        );
        const refused = await request(server.address, 'POST', 'login', {
          operator: ADMIN.operator,
          password: `wrong-${i}`,
        });
        assert.equal(refused.status, 401, refused.text);
      }
      const apiLogin = await login(server.address, ADMIN.operator, ADMIN.password);
      const second = await connectControl(server.address, key, ADMIN);
      second.close();
      await roundTrip(control, 'while the disk is full', echo.port);
      await waitFor(async () => (await control!.servers())[0]!.sessions === 0, 'the session to close');

      assert.ok(processAlive(server.proc.child.pid!), 'the server is alive');
      assert.equal((await request(server.address, 'GET', '/healthz')).status, 200);
      await roundTrip(control, 'relaying still works', echo.port);
      // Failed logins (control and API), two good logins, and the sessions that closed.
      const written = 2 * FAILED_LOGINS + 2 + 2;
      const failures = await waitFor(async () => {
        const n = await metric(server.address, 'switchboard_audit_write_failures_total');
        return n >= written && n;
      }, 'the audit write failures counted in /metrics');
      assert.ok((await metric(server.address, 'switchboard_store_writes_pending')) >= written);
      assert.equal(await metric(server.address, 'switchboard_audit_records_dropped_total'), 0);
      const failingLines = server.proc.lines.filter((l) => l.msg === FAILING_LOG);
      assert.ok(failingLines.length >= 1, 'the trouble is logged');
      assert.ok(
        failingLines.length <= 2 && failingLines.length < failures,
        `one line per interval, not per event: ${failingLines.length} lines for ${failures} records`,
      );
      assert.match(String(failingLines[0]!.error), /SQLITE_FULL/);

      // ---- configuration changes fail clearly, and change nothing ----------------------------------
      const offline = await runCli(['config', '--data', data, 'key', 'add', 'late']);
      assert.notEqual(offline.code, 0);
      assert.match(offline.stderr, /^switchboard: the data directory's disk is full: the change was not saved/);
      assert.equal(offline.stderr.trim().split('\n').length, 1, offline.stderr);
      const online = await request(server.address, 'POST', 'keys', { name: 'late-api' }, { token: apiLogin.token });
      assert.equal(online.status, 507, online.text);
      assert.equal(online.body.error.code, 'SB_ERR_STORE_FULL');
      const keysWhileFull = (await request(server.address, 'GET', 'keys', undefined, { token: apiLogin.token }))
        .body as { name: string }[];
      assert.deepEqual(
        keysWhileFull.map((k) => k.name),
        ['disk'],
      );

      // ---- room again: the waiting records are written, changes work ---------------------------------
      rmSync(fill);
      await server.proc.waitForMsg(RECOVERED_LOG, 30_000);
      assert.ok(processAlive(server.proc.child.pid!), 'the server is alive');
      assert.equal(await metric(server.address, 'switchboard_store_writes_pending'), 0);
      const audit = (await request(server.address, 'GET', 'audit?limit=1000', undefined, { token: apiLogin.token }))
        .body as { at: string; action: string; detail: Record<string, unknown> }[];
      const duringFull = audit.filter((r) => r.at >= fullAt);
      assert.equal(
        duringFull.filter((r) => r.action === 'login.failed').length,
        2 * FAILED_LOGINS,
        'every failed login, control and API',
      );
      assert.ok(
        duringFull.some((r) => r.action === 'login' && r.detail.via === 'api'),
        'the API login',
      );
      assert.ok(duringFull.filter((r) => r.action === 'session.closed').length >= 2, 'the sessions that closed');
      // The first write after the fill may still have found room in the WAL's last page: at least these.
      assert.ok(
        duringFull.length >= failures,
        `every record that waited is written: ${duringFull.length} of ${failures}`,
      );
      for (const r of auditBefore)
        assert.ok(
          audit.some((a) => a.action === r.action),
          `the record ${r.action} from before is kept`,
        );
      const times = audit.map((r) => r.at);
      assert.deepEqual(
        times,
        [...times].sort().reverse(),
        'the log (newest first) keeps the order the events happened in',
      );

      const added = await runCli(['config', '--data', data, 'key', 'add', 'late']);
      assert.equal(added.code, 0, added.stderr);
      const addedOnline = await request(
        server.address,
        'POST',
        'keys',
        { name: 'late-api' },
        { token: apiLogin.token },
      );
      assert.equal(addedOnline.status, 201, addedOnline.text);
      const keys = (await request(server.address, 'GET', 'keys', undefined, { token: apiLogin.token })).body as {
        name: string;
      }[];
      assert.deepEqual(keys.map((k) => k.name).sort(), ['disk', 'late', 'late-api']);
      await roundTrip(control, 'after the disk had room again', echo.port);
    } finally {
      control?.close();
      await stopAll(procs);
      await echo?.close();
      unmount(data);
      dir.remove();
    }
  },
);

test(
  'a member whose disk is full keeps serving, says why it cannot apply a replicated configuration, and applies it once there is room',
  { skip: NEEDS_ROOT },
  async () => {
    const dir = tempDir('sb-disk-member-');
    const memberData = smallDisk(dir.path);
    const primaryData = join(dir.path, 'primary');
    const procs: Proc[] = [];
    try {
      const [pPort, mPort] = [await freePort(), await freePort()];
      const [P, M] = [`127.0.0.1:${pPort}`, `127.0.0.1:${mPort}`];
      const env = { SWITCHBOARD_CLUSTER_SECRET: 'disk-cluster-secret-0123456789' };
      await addKey(primaryData, 'k1');
      assert.equal((await runCli(['config', '--data', primaryData, 'server', 'add', M])).code, 0);
      const primary = new Proc(
        ['server', '--data', primaryData, '--role', 'primary', '--listen', P, '--advertise', P],
        env,
      );
      procs.push(primary);
      await primary.waitForMsg('listening');
      const member = new Proc(
        ['server', '--data', memberData, '--role', 'member', '--listen', M, '--advertise', M, '--primary', P],
        env,
      );
      procs.push(member);
      await member.waitForMsg('configuration replicated', 30_000);

      const fill = fillDisk(memberData);
      const from = member.lines.length;
      assert.equal((await runCli(['config', '--data', primaryData, 'key', 'add', 'k2'])).code, 0);
      const refused = await member.waitForMsg('could not apply the replicated configuration', 30_000, from);
      assert.match(String(refused.err), /disk is full/);
      assert.equal(refused.retry, true);
      assert.ok(processAlive(member.child.pid!), 'the member is alive');
      assert.equal((await request(M, 'GET', '/healthz')).status, 200);
      const keysOf = async () =>
        (
          JSON.parse((await runCli(['config', '--data', memberData, 'key', 'list', '--json'])).stdout) as {
            name: string;
          }[]
        ).map((k) => k.name);
      assert.deepEqual(await keysOf(), ['k1'], 'its copy as it was');

      rmSync(fill);
      await member.waitForMsg('configuration replicated', 30_000, from);
      assert.deepEqual(await keysOf(), ['k1', 'k2']);
    } finally {
      await stopAll(procs);
      unmount(memberData);
      dir.remove();
    }
  },
);
