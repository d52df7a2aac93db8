/**
 * docs/security.md, "A client's name drives the operator's terminal": what clients choose (name,
 * group, platform) and what a server says (error messages) reach the operator's terminal only as
 * printable text. A real client whose name, group and platform hold ESC[2J, BEL, C1 CSI (U+009B),
 * DEL and a bidi override is browsed with the real CLI: the table holds no raw control character,
 * and `--json` gives back the exact values. A gateway that closes with such a reason has it escaped
 * in the CLI's error line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { table } from '../src/cli/common.js';
import { newIdentity } from '../src/client/identity.js';
import { printable, printableLines } from '../src/cli/printable.js';
import type { ClientInfo } from '../src/protocol/messages.js';
import { addKey, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { browse, controlCli, helloFor, jsonOf, RawPeer, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-sec-output-');
/** Anything a terminal acts on instead of showing (newline aside, between lines). */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const NAME = 'evil\u001b[2J\u0007\u009b31mname';
const GROUP = 'grp\u001b]0;owned\u0007\u007f';
const PLATFORM = 'plat\u009b2J\u202etxt.exe\nfake-row';

test('printable: every control character becomes an escape, other text stays as it is', () => {
  assert.equal(printable('a\u001b[2Jb\u0007c\u009bd\u007fe\u0000f'), 'a\\x1b[2Jb\\x07c\\x9bd\\x7fe\\x00f');
  assert.equal(printable('one\ntwo\tthree\r'), 'one\\x0atwo\\x09three\\x0d');
  assert.equal(printable('abc\u202egnp.exe'), 'abc\\u202egnp.exe');
  assert.equal(printable('db-01 é 漢字 🙂 \\x1b'), 'db-01 é 漢字 🙂 \\x1b');
  assert.equal(printableLines('line 1\n\tline 2\u001b[2J'), 'line 1\n\tline 2\\x1b[2J');
  for (const text of [NAME, GROUP, PLATFORM]) assert.doesNotMatch(printable(text), RAW_CONTROL);
  // A table stays aligned on the escaped text, one row per line.
  assert.equal(
    table(
      ['NAME', 'X'],
      [
        ['a\u0007', '1'],
        ['bb', '2'],
      ],
    ),
    'NAME   X\na\\x07  1\nbb     2',
  );
});

let server: RunningServer;
let key: string;
let peer: RawPeer | undefined;

before(async () => {
  server = await startServer(join(dir.path, 'data'));
  key = await addKey(server.data, 'default');
});

after(async () => {
  peer?.terminate();
  await stopAll([server.proc]);
  dir.remove();
});

test(
  'control browse shows client-chosen control characters escaped; --json gives the exact values',
  { timeout: 120_000 },
  async () => {
    const identity = newIdentity();
    // The key was added to the running server a moment ago: hello until the server has it.
    peer = await waitFor(async () => {
      const attempt = RawPeer.open(server.address, '/v1/client');
      const challenge = await attempt.next('challenge');
      attempt.send({
        ...helloFor(key, challenge.nonce as string, { identity, name: NAME, group: GROUP }),
        platform: PLATFORM,
      });
      return attempt.next('welcome').then(
        () => attempt,
        () => undefined,
      );
    }, 'the client welcomed');
    await waitFor(
      async () => (await browse(server.address, key)).some((c) => c.id === identity.id),
      'the client in browse',
    );

    const text = await controlCli(server.address, key, ['browse']);
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, RAW_CONTROL, JSON.stringify(text.stdout));
    assert.ok(text.stdout.includes('evil\\x1b[2J\\x07\\x9b31mname'), text.stdout);
    assert.ok(text.stdout.includes('plat\\x9b2J\\u202etxt.exe\\x0afake-row'), text.stdout);
    assert.equal(text.stdout.trim().split('\n').length, 2, 'a header and one row: a newline in a value makes no row');

    const json = jsonOf<ClientInfo[]>(await controlCli(server.address, key, ['browse', '--json']));
    const shown = json.find((c) => c.id === identity.id)!;
    assert.deepEqual([shown.name, shown.group, shown.platform], [NAME, GROUP, PLATFORM]);
  },
);

test("an error message that echoes a server's text is printed escaped", { timeout: 60_000 }, async () => {
  const fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => fake.once('listening', () => r()));
  fake.on('connection', (ws) => ws.close(4001, 'bad key\u001b[2J\u0007\u009b31m'));
  try {
    const { port } = fake.address() as { port: number };
    const result = await controlCli(`127.0.0.1:${port}`, key, ['browse']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /refused the control: bad key\\x1b\[2J\\x07\\x9b31m/);
    assert.doesNotMatch(result.stderr, RAW_CONTROL, JSON.stringify(result.stderr));
  } finally {
    await new Promise<void>((r) => fake.close(() => r()));
  }
});
