/**
 * Issue 19: a terminal to a client on a member, through the primary (control ⇄ primary ⇄ member ⇄
 * client), exactly like a forward: the session is brokered by the primary, counted in its active
 * sessions while open, and the remote exit status comes back. Servers on 127.0.163.x; the primary's
 * own weight is 0, so the client is placed on the member.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { runShell } from '../src/control/shell.js';
import { Cluster } from './helpers/cluster.js';
import { waitFor } from './helpers/harness.js';
import { connectControl } from './helpers/sb.js';

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ subnet: 163, members: [{}], primaryWeight: 0, heartbeat: 2 });
  await cluster.client('term', ['--allow-shell']);
  const browse = await cluster.browse();
  assert.equal(
    browse.find((c) => c.name === 'term')?.server,
    cluster.members[0]!.address,
    'the client is on the member',
  );
});

after(async () => {
  await cluster?.close();
});

test('a terminal to a client on a member, through the primary', async () => {
  const control = await connectControl(cluster.primary.address, cluster.key);
  const input = new PassThrough();
  let screen = '';
  const output = new PassThrough();
  output.on('data', (d: Buffer) => (screen += d.toString()));
  const exit = runShell(control, 'term', {
    input,
    output,
    size: () => ({ cols: 77, rows: 20 }),
    onResize: () => () => undefined,
  });
  input.write('echo "A$((6*7))B $(tput cols)"\n');
  await waitFor(() => screen.includes('A42B 77'), `A42B 77 on the terminal; got ${JSON.stringify(screen)}`);
  const rows = await cluster.serversNow();
  assert.equal(rows.find((r) => r.address === cluster.primary.address)?.sessions, 1, 'brokered by the primary');
  input.write('exit 9\n');
  assert.deepEqual(await exit, { code: 9, signal: null });
  control.close();
});
