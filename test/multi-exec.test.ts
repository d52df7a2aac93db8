/**
 * Commands on many machines, and the console's exec box quoting: `control exec --group G -- CMD`
 * (JSON, a plain table, a live table under a real pseudo-terminal, bounded parallelism, the exit
 * status), and in real Chromium the one-off exec box honouring shell quoting and the clients page's
 * "Run on selected" with its live results table. Real server, real client processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { splitExecWords } from '../src/cli/multiExecCommand.js';
import { runsTable, statusOf, summaryOf } from '../src/cli/multiExecTable.js';
import { shellWords } from '../src/console/shellWords.js';
import type { HostRun } from '../src/control/multiExec.js';
import { addOperator } from './helpers/api.js';
import { addKey, binSpawn, Proc, startClient, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { controlCli, stopAll } from './helpers/sb.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = tempDir('sb-multi-exec-');
const procs: Proc[] = [];
const admin = { operator: 'admin', password: 'admin-password-123' };
let server: RunningServer;
let key: string;

test('shellWords splits like a shell quotes, and refuses what only a shell would expand', () => {
  const ok = (line: string) => {
    const r = shellWords(line);
    assert.ok(r.ok, `${line}: ${r.ok ? '' : r.error}`);
    return r.words;
  };
  assert.deepEqual(ok(`sh -c "echo 'a b'"`), ['sh', '-c', "echo 'a b'"]);
  assert.deepEqual(ok(`sh -c 'echo "a b" | wc -c'`), ['sh', '-c', 'echo "a b" | wc -c']);
  assert.deepEqual(ok(`  uname   -a `), ['uname', '-a']);
  assert.deepEqual(ok(`printf %s\\ x "q\\"uo\\\\te" '' end`), ['printf', '%s x', 'q"uo\\te', '', 'end']);
  assert.deepEqual(ok(`echo a"b c"'d'`), ['echo', 'ab cd']);
  assert.deepEqual(ok(`echo "|;&<>*?"`), ['echo', '|;&<>*?']);
  assert.deepEqual(ok(`echo a#b`), ['echo', 'a#b']);
  for (const [line, why] of [
    ['echo $HOME', /"\$" at column 6/],
    ['ls *.log', /"\*"/],
    ['echo a | wc', /"\|"/],
    ['echo "$(id)"', /"\$"/],
    ['echo ~', /"~"/],
    ['echo # comment', /"#"/],
    [`sh -c "echo 'a b'`, /the " at column 7 is never closed/],
    [`echo 'open`, /never closed/],
    ['echo \\', /lone/],
  ] as const) {
    const r = shellWords(line);
    assert.ok(!r.ok, `${line} should be refused`);
    assert.match(r.error, why);
  }
});

test('exec words: clients before --, the command after; the old single-client form stays', () => {
  assert.deepEqual(splitExecWords(['web-1', 'uname', '-a'], false), { targets: ['web-1'], command: ['uname', '-a'] });
  assert.deepEqual(splitExecWords(['a', 'b', '--', 'ls', '-l'], false), { targets: ['a', 'b'], command: ['ls', '-l'] });
  assert.deepEqual(splitExecWords(['uptime', '-p'], true), { targets: [], command: ['uptime', '-p'] });
  const run = (over: Partial<HostRun>): HostRun => ({
    id: 'id',
    name: 'n',
    state: 'done',
    code: 0,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: false,
    durationMs: 1,
    ...over,
  });
  assert.equal(statusOf(run({ code: 3 })), 'exit 3');
  assert.equal(statusOf(run({ signal: 'SIGKILL', code: null })), 'killed by SIGKILL');
  const shown = runsTable([
    run({ name: 'x\x1b[2J', stdout: 'one\ntwo\nthree\n' }),
    run({ state: 'failed', error: 'no' }),
  ]);
  assert.match(shown, /x\\x1b\[2J\s+exit 0\s+one ⏎ two …/);
  assert.match(shown, /failed\s+no/);
  assert.equal(summaryOf([run({}), run({ code: 1 })]), '1 of 2 succeeded, 1 failed');
});

describe('commands on many clients', () => {
  before(async () => {
    server = await startServer(join(dir.path, 'server'));
    procs.push(server.proc);
    key = await addKey(server.data, 'default');
    await addOperator(server.data, admin.operator, admin.password, 'admin');
    const client = async (name: string, group: string, extra: string[]) =>
      procs.push(
        await startClient([
          '--gateway',
          server.address,
          '--key',
          key,
          '--name',
          name,
          '--group',
          group,
          '--state',
          join(dir.path, `state-${name}`),
          ...extra,
        ]),
      );
    await client('web-1', 'web', ['--allow-exec']);
    await client('web-2', 'web', ['--allow-exec']);
    await client('web-3', 'web', []);
    await client('db-1', 'db', ['--allow-exec']);
  });

  after(async () => {
    await stopAll(procs);
    dir.remove();
  });

  test('--group --json: one document, each client of the group once, a refusal is a failed row, exit 1', async () => {
    const result = await controlCli(
      server.address,
      key,
      ['exec', '--group', 'web', '--json', '--', 'sh', '-c', "echo 'a b'; echo second; echo err >&2"],
      admin,
    );
    assert.equal(result.code, 1, result.stderr);
    const doc = JSON.parse(result.stdout) as {
      ok: boolean;
      command: string[];
      results: {
        name: string;
        status: string;
        code: number | null;
        stdout: string;
        stderr: string;
        error: string | null;
      }[];
    };
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.command, ['sh', '-c', "echo 'a b'; echo second; echo err >&2"]);
    const byName = new Map(doc.results.map((r) => [r.name, r]));
    assert.deepEqual([...byName.keys()].sort(), ['web-1', 'web-2', 'web-3']);
    for (const name of ['web-1', 'web-2']) {
      const r = byName.get(name)!;
      assert.equal(r.status, 'exited');
      assert.equal(r.code, 0);
      assert.equal(r.stdout, 'a b\nsecond\n');
      assert.equal(r.stderr, 'err\n');
    }
    assert.equal(byName.get('web-3')!.status, 'failed');
    assert.match(byName.get('web-3')!.error ?? '', /allow-exec/);
  });

  test('every client succeeding exits 0; a plain table when not a terminal', async () => {
    const all = await controlCli(server.address, key, ['exec', '--group', 'db', '--', 'echo', 'fine'], admin);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^CLIENT\s+STATUS\s+OUTPUT\ndb-1\s+exit 0\s+fine\n1 of 1 succeeded, 0 failed\n$/);
    const some = await controlCli(server.address, key, ['exec', 'web-1', 'db-1', '--', 'sh', '-c', 'exit 3'], admin);
    assert.equal(some.code, 1);
    assert.match(some.stdout, /web-1\s+exit 3/);
    assert.match(some.stdout, /db-1\s+exit 3/);
    const unknown = await controlCli(server.address, key, ['exec', 'web-1', 'nosuch', '--', 'true'], admin);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no client nosuch/);
    const badParallel = await controlCli(
      server.address,
      key,
      ['exec', '--parallel', '0', '--group', 'web', '--', 'true'],
      admin,
    );
    assert.notEqual(badParallel.code, 0);
    assert.match(badParallel.stderr, /--parallel must be a whole number from 1 to 16/);
  });

  test('--parallel 1 runs one client at a time: no command ever sees another running', async () => {
    const marks = join(dir.path, 'marks');
    mkdirSync(marks);
    // Each run leaves a mark while it runs and records how many marks it saw.
    const script = `touch ${marks}/run.$$; sleep 0.3; ls ${marks} | grep -c '^run' >> ${marks}/seen.log; rm ${marks}/run.$$`;
    const result = await controlCli(
      server.address,
      key,
      ['exec', '--parallel', '1', 'web-1', 'web-2', 'db-1', '--', 'sh', '-c', script],
      admin,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(readFileSync(join(marks, 'seen.log'), 'utf8').trim().split('\n'), ['1', '1', '1']);
  });

  test('on a terminal (under script(1)), the live table is drawn and the summary ends it', () => {
    const run = binSpawn([
      'control',
      '--gateway',
      server.address,
      '--key',
      key,
      '--operator',
      admin.operator,
      '--password-env',
      'SB_TEST_PASSWORD',
      'exec',
      '--group',
      'db',
      '--',
      'echo',
      'on-a-tty',
    ]);
    const line = [process.execPath, ...run.argv].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    const out = spawnSync('script', ['-qec', line, '/dev/null'], {
      env: { ...run.env, SB_TEST_PASSWORD: admin.password, COLUMNS: '100' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /CLIENT\s+STATUS\s+OUTPUT\r?\ndb-1\s+exit 0\s+on-a-tty\r?\n1 of 1 succeeded, 0 failed/);
  });

  describe('in the console', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
    let browser: Browser;
    let page: Page;
    const pageErrors: string[] = [];
    before(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu'],
      });
      page = await browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`http://${server.address}/console/`);
      await page.fill('input[name=operator]', admin.operator);
      await page.fill('input[name=password]', admin.password);
      await page.click('form.login button[type=submit]');
      await page.locator('#clients tr[data-id]').nth(3).waitFor();
    });
    after(async () => {
      await browser?.close();
    });

    test('the exec box runs sh -c "echo \'a b\'" as its hint says, and refuses unquoted $', async () => {
      await page.locator('#clients tr[data-id]', { hasText: 'web-1' }).getByRole('button', { name: 'Connect' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.locator('input[name=command]').fill(`sh -c "echo 'a b'"`);
      await dialog.getByRole('button', { name: 'Run' }).click();
      await dialog.locator('pre.output', { hasText: 'exit code' }).waitFor();
      assert.equal(await dialog.locator('pre.output').textContent(), 'a b\n[exit code 0]');
      assert.match((await dialog.locator('small').textContent()) ?? '', /sh -c "…"/);
      await dialog.locator('input[name=command]').fill('echo $HOME');
      await dialog.getByRole('button', { name: 'Run' }).click();
      await dialog.locator('pre.output', { hasText: 'not run' }).waitFor();
      assert.match((await dialog.locator('pre.output').textContent()) ?? '', /"\$" at column 6/);
      await dialog.getByRole('button', { name: 'Close' }).click();
    });

    test('"Run on selected" runs on the checked clients, with a live results table', async () => {
      const box = (name: string) => page.locator('#clients tr[data-id]', { hasText: name }).locator('input.select');
      assert.equal(await page.locator('#run-selected').isDisabled(), true);
      // A client without --allow-exec may be ticked (the selection is the page's), but no command goes to it.
      await box('web-3').check();
      assert.equal(await page.locator('#run-selected').isDisabled(), true);
      await box('web-1').check();
      await box('db-1').check();
      assert.equal(await page.locator('#run-selected').textContent(), 'Run on selected (2)');
      await page.locator('#run-selected').click();
      const dialog = page.locator('dialog[open]');
      await dialog.locator('input[name=multi-command]').fill(`sh -c "echo 'a b'; exit 0"`);
      await dialog.getByRole('button', { name: 'Run', exact: true }).click();
      await dialog.locator('#multi-summary', { hasText: '2 of 2 done' }).waitFor();
      const rows = await dialog
        .locator('#multi-results tbody tr')
        .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      assert.deepEqual(rows, [
        ['db-1', 'exit 0', 'a b'],
        ['web-1', 'exit 0', 'a b'],
      ]);
      assert.equal(await dialog.locator('#multi-summary').textContent(), '2 of 2 done: 2 succeeded, 0 failed');
      await dialog.getByRole('button', { name: 'Close' }).click();
      assert.deepEqual(pageErrors, []);
    });
  });
});
