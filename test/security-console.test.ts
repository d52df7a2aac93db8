/**
 * docs/security.md, "A client's name runs a command in the operator's shell": the console's connect
 * dialog shows a command to paste into a shell, and a client chooses its own name. Every value in it
 * is quoted (shellQuote, tested against /bin/sh), and in a real browser the command shown for clients
 * named `db-01; touch x; #` and worse, run with `sh -c`, creates no file and hands the program the
 * exact name as one argument.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/consoleBrowser.js';
import { shellQuote } from '../src/console/shellQuote.js';
import { addOperator, login, request } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { stopAll } from './helpers/sb.js';

const dir = tempDir('sb-sec-console-');

/** The words /bin/sh makes of a command line, as the program it runs receives them. */
function shellWords(commandLine: string, cwd = dir.path): string[] {
  const out = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${commandLine}`], { cwd, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.split('\0').slice(0, -1);
}

test('shellQuote: plain words stay as they are, anything else is single-quoted', () => {
  assert.equal(shellQuote('box-1'), 'box-1');
  assert.equal(shellQuote('127.0.0.1:8443'), '127.0.0.1:8443');
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('db-01; touch /tmp/x; #'), "'db-01; touch /tmp/x; #'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote('$(id)'), "'$(id)'");
  assert.equal(shellQuote('~root'), "'~root'");
});

test('shellQuote: /bin/sh reads back exactly the text, as one word, whatever it holds', () => {
  const work = join(dir.path, 'quote');
  mkdirSync(work);
  const nasty = [
    "a'b",
    'a"b',
    'a\\b',
    '$HOME',
    '`touch x`',
    '$(touch x)',
    'a b\tc\nd',
    '*',
    '-n',
    '!',
    '#',
    ';touch x;',
    "'",
    "''\\''",
    'é ü 漢字 🙂',
  ];
  for (const text of nasty) assert.deepEqual(shellWords(shellQuote(text), work), [text], JSON.stringify(text));
  // Any text without NUL (which no argument can hold): unicode, controls, quotes, spaces.
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')),
      (text) => {
        assert.deepEqual(shellWords(shellQuote(text), work), [text]);
      },
    ),
    { numRuns: 100 },
  );
  assert.deepEqual(readdirSync(work), [], 'nothing in the text ran');
});

describe('the connect dialog in a real browser', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
  const procs: Proc[] = [];
  const PW = 'console-sec-admin-pw';
  // Each would run `touch x` in the directory it is pasted in, were it not quoted.
  const NAMES = ['db-01; touch x; #', '-x\'$(touch x)`touch x`"\\ && touch x'];
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    server = await startServer(join(dir.path, 'data'));
    procs.push(server.proc);
    const key = await addKey(server.data, 'default');
    await addOperator(server.data, 'admin', PW, 'admin');
    for (const [i, name] of NAMES.entries()) {
      procs.push(
        await startClient([
          '--gateway',
          server.address,
          '--key',
          key,
          '--name',
          name,
          '--state',
          join(dir.path, `state-${i}`),
          '--allow-forward',
          '22',
        ]),
      );
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await stopAll(procs);
    dir.remove();
  });

  test(
    'the forward command shown for a client with shell syntax in its name runs nothing and passes the name as one argument',
    { timeout: 120_000 },
    async () => {
      const { token } = await login(server.address, 'admin', PW);
      const clients = await waitFor(async () => {
        const list = (await request(server.address, 'GET', 'clients', undefined, { token })).body as {
          id: string;
          name: string;
        }[];
        return list.length === NAMES.length && list;
      }, 'both clients listed');

      // A stand-in for `switchboard` first on the PATH, which writes down the arguments it was given.
      const bin = join(dir.path, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'switchboard'), '#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ARGS_FILE"\n');
      chmodSync(join(bin, 'switchboard'), 0o755);

      const page = await browser.newPage();
      await page.goto(`http://${server.address}/console/`);
      await page.fill('input[name=operator]', 'admin');
      await page.fill('input[name=password]', PW);
      await page.click('form.login button[type=submit]');
      for (const [i, name] of NAMES.entries()) {
        const { id } = clients.find((c) => c.name === name)!;
        await page.locator(`#clients tr[data-id="${id}"]`).getByRole('button', { name: 'Connect' }).click();
        const shown = (await page.locator('dialog[open] pre.command').first().textContent()) ?? '';
        await page.locator('dialog[open]').getByRole('button', { name: 'Close' }).click();

        const work = join(dir.path, `paste-${i}`);
        mkdirSync(work);
        const argsFile = join(work, 'args');
        const run = spawnSync('/bin/sh', ['-c', shown], {
          cwd: work,
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ARGS_FILE: argsFile },
          encoding: 'utf8',
        });
        assert.equal(run.status, 0, `${shown}\n${run.stderr}`);
        assert.equal(existsSync(join(work, 'x')), false, `pasting ${JSON.stringify(shown)} ran a command`);
        const argv = readFileSync(argsFile, 'utf8').split('\0').slice(0, -1);
        assert.deepEqual(argv, [
          'control',
          '--gateway',
          server.address,
          '--key-file',
          'KEYFILE',
          '--operator',
          'admin',
          '--password-env',
          'SB_PASSWORD',
          'forward',
          '--',
          name,
          '127.0.0.1:10022:22',
        ]);
      }
      await page.close();
    },
  );
});
