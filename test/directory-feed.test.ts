/**
 * The secondary's copy of the directory (issue 20): the primary feeds a secondary of protocol 3 its
 * whole directory on the join, then what changes; the copy the secondary keeps is the primary's
 * list, and what it gives a takeover leaves out the lost primary's own clients and the secondary's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirectoryCopy } from '../src/cluster/directoryCopy.js';
import { DirectoryFeed } from '../src/cluster/directoryFeed.js';
import { PrimaryToMember } from '../src/protocol/clusterMessages.js';
import { decode } from '../src/protocol/messages.js';
import { memoryLinkPair } from '../src/net/memoryLink.js';
import { Directory, type DirectoryEntry } from '../src/server/directory.js';
import { until } from './helpers/memoryCluster.js';

const entry = (id: string, server: string): DirectoryEntry => ({
  id,
  name: `pc-${id}`,
  group: '',
  platform: 'linux',
  address: '10.0.0.1',
  server,
  connectedAt: new Date(0).toISOString(),
  key: 'k',
});

/** A feed over a memory link: what the secondary's end receives goes into a copy, decoded as a member decodes. */
function fedCopy(directory: Directory, version = 3, secondary = true) {
  const [primaryEnd, secondaryEnd] = memoryLinkPair('p:1', 's:1');
  const feed = new DirectoryFeed(directory, 5);
  const copy = new DirectoryCopy();
  const received: string[] = [];
  secondaryEnd.onMessage((data) => {
    const decoded = decode(PrimaryToMember, data);
    assert.ok(decoded.ok, String(!decoded.ok && decoded.error));
    assert.equal(decoded.value.type, 'directory');
    if (decoded.value.type !== 'directory') return;
    received.push(decoded.value.reset ? 'reset' : 'changes');
    copy.apply(decoded.value);
  });
  feed.member('s:1', primaryEnd, secondary, version);
  return { feed, copy, received, link: primaryEnd };
}

/** Long enough for a feed of 5 ms to have sent, where the test asserts that nothing was. */
const settle = () => new Promise((r) => setTimeout(r, 40));
const ids = (entries: readonly DirectoryEntry[]) => entries.map((e) => `${e.id}@${e.server}`).sort();

test('the secondary gets the whole directory on its join, then the changes: its copy is the list', async () => {
  const directory = new Directory();
  directory.upsertMany([entry('a', 'm1:1'), entry('b', 'm2:1'), entry('c', 'p:1')]);
  const { copy, received } = fedCopy(directory);
  await until('the whole list', () => received.length === 1);
  assert.deepEqual(received, ['reset']);
  assert.equal(copy.size, 3);

  directory.remove('a', 'm1:1');
  directory.upsert(entry('d', 'm1:1'));
  directory.upsert(entry('b', 'm1:1')); // moved from m2 to m1
  directory.remove('c', 'm1:1'); // not there: no change
  await until('the changes', () => received.length === 2);
  await settle();
  assert.deepEqual(received, ['reset', 'changes'], 'the changes of a moment go together');
  assert.deepEqual(ids(copy.take(new Set())), ['b@m1:1', 'c@p:1', 'd@m1:1']);
  assert.equal(copy.size, 0, 'taken: the copy is empty');
});

test("what a takeover inherits leaves out the lost primary's clients and the secondary's own", async () => {
  const directory = new Directory();
  directory.upsertMany([entry('a', 'm1:1'), entry('b', 's:1'), entry('c', 'p:1'), entry('d', 'm2:1')]);
  const { copy } = fedCopy(directory);
  await until('the whole list', () => copy.size === 4);
  assert.deepEqual(ids(copy.take(new Set(['p:1', 's:1']))), ['a@m1:1', 'd@m2:1']);
});

test('a copy sent again on a new link starts over: what the old one held and the new does not is gone', async () => {
  const directory = new Directory();
  directory.upsertMany([entry('a', 'm1:1'), entry('b', 'm1:1')]);
  const first = fedCopy(directory);
  await until('the whole list', () => first.copy.size === 2);
  first.feed.left('s:1', first.link);
  directory.remove('a', 'm1:1');
  const [primaryEnd, secondaryEnd] = memoryLinkPair('p:1', 's:1');
  secondaryEnd.onMessage((data) => {
    const decoded = decode(PrimaryToMember, data);
    if (decoded.ok && decoded.value.type === 'directory') first.copy.apply(decoded.value);
  });
  first.feed.member('s:1', primaryEnd, true, 3);
  await until('the new list', () => first.copy.size === 1);
  assert.deepEqual(ids(first.copy.take(new Set())), ['b@m1:1']);
});

test('no feed to a member that is not the secondary, to a secondary of protocol 2, or after it left', async () => {
  const directory = new Directory();
  directory.upsert(entry('a', 'm1:1'));
  const listeners = directory.listenerCount('up');
  for (const [version, secondary] of [
    [3, false],
    [2, true],
  ] as const) {
    const { received } = fedCopy(directory, version, secondary);
    directory.upsert(entry('b', 'm1:1'));
    await settle();
    assert.deepEqual(received, [], `version ${version}, secondary ${secondary}`);
  }
  assert.equal(directory.listenerCount('up'), listeners, 'the directory is not followed for nobody');

  const { feed, received, link } = fedCopy(directory);
  await until('the whole list', () => received.length === 1);
  feed.left('s:1', link);
  directory.upsert(entry('c', 'm1:1'));
  await settle();
  assert.deepEqual(received, ['reset'], 'nothing after the link left');
  assert.equal(directory.listenerCount('up'), listeners);
});
