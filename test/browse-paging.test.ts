/**
 * Issue 20, "lists that page": `control browse --limit/--cursor`, GET /api/v1/clients?limit=&cursor=
 * and the browse message's paging fields, against a real server and real clients (a bench generator
 * holding pc-0 ... pc-24, and single `switchboard client`s arriving between pages).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { runBrowse } from '../src/cli/browseOutput.js';
import type { ClientInfo } from '../src/protocol/messages.js';
import { addOperator, login, request } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { browse, connectControl, controlCli, rawControl, rawRequest } from './helpers/sb.js';

const dir = tempDir('sb-paging-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let token: string;
const admin = { operator: 'admin', password: 'admin-password' };
const FLEET = Array.from({ length: 25 }, (_, i) => `pc-${i}`);

async function client(name: string, group = ''): Promise<Proc> {
  const args = ['--gateway', server.address, '--key', key, '--name', name, '--state', `${dir.path}/state-${name}`];
  const proc = await startClient(group ? [...args, '--group', group] : args);
  procs.push(proc);
  return proc;
}

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await addOperator(server.data, admin.operator, admin.password, 'admin');
  token = (await login(server.address, admin.operator, admin.password)).token;
  const bench = new Proc([
    'bench',
    'clients',
    '--gateway',
    server.address,
    '--key',
    key,
    '--count',
    '25',
    '--prefix',
    'pc',
  ]);
  procs.push(bench);
  await bench.waitForLine((l) => l.msg === 'all connected', 'the 25 bench clients', 60_000);
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  dir.remove();
});

interface CliPage {
  clients: ClientInfo[];
  next: string | null;
}

async function cliPage(args: string[]): Promise<CliPage> {
  const result = await controlCli(server.address, key, ['browse', '--json', ...args], admin);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as CliPage;
}

function assertNoDuplicates(names: string[]): void {
  assert.equal(new Set(names).size, names.length, `duplicates in ${names.join(' ')}`);
}

test('control browse --limit 10 pages 25 clients in three pages, natural order, none twice or missed, arrivals between pages included once', async () => {
  const first = await cliPage(['--limit', '10']);
  assert.deepEqual(
    first.clients.map((c) => c.name),
    FLEET.slice(0, 10),
  );
  assert.equal(typeof first.next, 'string');
  // Between pages: one client sorts after the cursor's place (it must appear), one before (it must not).
  await client('pc-20a');
  await client('pc-3a');
  const second = await cliPage(['--limit', '10', '--cursor', first.next!]);
  const third = await cliPage(['--limit', '10', '--cursor', second.next!]);
  assert.equal(third.next, null);
  const names = [...first.clients, ...second.clients, ...third.clients].map((c) => c.name);
  assertNoDuplicates(names);
  assert.deepEqual(names, [...FLEET.slice(0, 21), 'pc-20a', ...FLEET.slice(21)].sort(naturalByHand));
  assert.deepEqual(
    third.clients.map((c) => c.name),
    ['pc-20', 'pc-20a', 'pc-21', 'pc-22', 'pc-23', 'pc-24'],
  );
});

/** The expected order written out without the comparator under test: prefix, then number, then suffix. */
function naturalByHand(a: string, b: string): number {
  const parse = (s: string) => /^pc-(\d+)(.*)$/.exec(s)!;
  const [, an, as] = parse(a);
  const [, bn, bs] = parse(b);
  return Number(an) - Number(bn) || (as! < bs! ? -1 : as! > bs! ? 1 : 0);
}

test('control browse without --limit pages by itself and --json is still one array of every client', async () => {
  const all = await browse(server.address, key, admin);
  const result = await controlCli(server.address, key, ['browse', '--json'], admin);
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as ClientInfo[];
  assert.ok(Array.isArray(printed));
  assert.deepEqual(printed, all);
  assert.deepEqual(printed.map((c) => c.name).slice(0, 12), [
    'pc-0',
    'pc-1',
    'pc-2',
    'pc-3',
    'pc-3a',
    'pc-4',
    'pc-5',
    'pc-6',
    'pc-7',
    'pc-8',
    'pc-9',
    'pc-10',
  ]);
  // The same, paged 7 at a time through a real control channel: one document, equal to the unpaged answer.
  const control = await connectControl(server.address, key, admin);
  let text = '';
  const sink = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
  await runBrowse(control, { json: true }, sink, sink, 7);
  control.close();
  assert.deepEqual(JSON.parse(text), all);
  assert.equal(text, JSON.stringify(all, null, 2) + '\n');
});

test('a control that sends no limit gets every client in one array, as before paging', async () => {
  const peer = await rawControl(server.address, key, admin);
  await peer.next('ready');
  const answer = await rawRequest(peer, 1, 'browse', {});
  assert.ok(Array.isArray(answer.result));
  assert.equal((answer.result as ClientInfo[]).length, FLEET.length + 2);
  const paged = await rawRequest(peer, 2, 'browse', { limit: 4, filter: 'pc-2' });
  assert.deepEqual(
    (paged.result as { clients: ClientInfo[] }).clients.map((c) => c.name),
    ['pc-2', 'pc-20', 'pc-20a', 'pc-21'],
  );
  const tooMany = await rawRequest(peer, 3, 'browse', { limit: 1_000_000 });
  assert.equal(tooMany.error?.code, 'SB_ERR_BAD_MESSAGE');
  const badCursor = await rawRequest(peer, 4, 'browse', { limit: 5, cursor: 'not-a-cursor' });
  assert.equal(badCursor.error?.code, 'SB_ERR_BAD_MESSAGE');
  const badState = await rawRequest(peer, 5, 'browse', { state: 'asleep' });
  assert.equal(badState.error?.code, 'SB_ERR_BAD_MESSAGE');
  assert.match(badState.error?.message ?? '', /online/);
  // The channel survives each refusal.
  assert.ok(Array.isArray((await rawRequest(peer, 6, 'browse', { state: 'online' })).result));
  peer.ws.close();
});

test('GET /api/v1/clients pages with limit and cursor, and filters by q, group and state', async () => {
  await client('desk-1', 'office');
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const answer: { status: number; text: string; body: { clients: ClientInfo[]; next: string | null } } =
      await request(
        server.address,
        'GET',
        `clients?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        undefined,
        { token },
      );
    assert.equal(answer.status, 200, answer.text);
    seen.push(...answer.body.clients.map((c) => c.name));
    cursor = answer.body.next ?? undefined;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assertNoDuplicates(seen);
  assert.equal(seen.length, FLEET.length + 3);
  assert.deepEqual(seen.slice(-1), ['pc-24']);
  assert.equal(seen[0], 'desk-1');

  const searched = await request(server.address, 'GET', 'clients?limit=100&q=PC-1', undefined, { token });
  assert.deepEqual(
    (searched.body.clients as ClientInfo[]).map((c) => c.name),
    ['pc-1', ...FLEET.slice(10, 20)],
  );
  const grouped = await request(server.address, 'GET', 'clients?group=office&state=online', undefined, { token });
  assert.deepEqual(
    (grouped.body as ClientInfo[]).map((c) => c.name),
    ['desk-1'],
  );
  // No limit: the array, as before.
  const everything = await request(server.address, 'GET', 'clients', undefined, { token });
  assert.equal((everything.body as ClientInfo[]).length, FLEET.length + 3);
  for (const bad of ['clients?limit=0', 'clients?limit=99999', 'clients?limit=5&cursor=%%%', 'clients?state=asleep']) {
    const refused = await request(server.address, 'GET', bad, undefined, { token });
    assert.equal(refused.status, 400, bad);
    assert.equal(refused.body.error.code, 'SB_ERR_BAD_MESSAGE', bad);
  }
});
