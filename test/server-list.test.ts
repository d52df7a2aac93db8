/**
 * Issue 15, "one policy for trying the primary then the secondary": the agent, a member and a
 * control all take their next address from ServerList (src/net/serverList.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerList } from '../src/net/serverList.js';
import { returnOrder } from '../src/net/returnOrder.js';

test('the primary first; after each failure the other; after a success the primary again', () => {
  const list = new ServerList('p:1', 's:1');
  const tried: string[] = [];
  for (const outcome of ['fail', 'fail', 'fail', 'ok', 'fail'] as const) {
    tried.push(list.current());
    if (outcome === 'fail') list.failed();
    else list.succeeded();
  }
  tried.push(list.current());
  assert.deepEqual(tried, ['p:1', 's:1', 'p:1', 's:1', 'p:1', 's:1']);
});

test('without a secondary, or as the secondary itself, only the primary is dialled', () => {
  const alone = new ServerList('p:1', undefined);
  alone.failed();
  assert.equal(alone.current(), 'p:1');
  assert.deepEqual(alone.all(), ['p:1']);
  const secondary = new ServerList('p:1', 's:1', 's:1');
  secondary.failed();
  assert.equal(secondary.current(), 'p:1', 'a server never dials itself');
  assert.deepEqual(secondary.all(), ['p:1']);
});

test('addresses the cluster announces replace the configured ones; all() lists each once', () => {
  const list = new ServerList('gw:1', undefined);
  list.update('p:1', 's:1');
  assert.deepEqual(list.all(), ['p:1', 's:1']);
  list.failed();
  assert.equal(list.current(), 's:1');
  list.setSecondary(undefined);
  assert.equal(list.current(), 'p:1');
  assert.deepEqual(new ServerList('p:1', 'p:1').all(), ['p:1']);
});

test('members told in a welcome: after a failure each client tries the members in its own order, then the secondary, the primary between', () => {
  const list = new ServerList('p:1', 's:1', undefined, 'client-a');
  list.update('p:1', 's:1', ['m:1', 'm:2', 's:1', 'p:1']);
  const others = list.all().slice(1);
  assert.equal(list.all()[0], 'p:1');
  assert.deepEqual([...others].sort(), ['m:1', 'm:2', 's:1'], 'each other server once, never the primary');
  assert.deepEqual(others, [...returnOrder('client-a', ['m:1', 'm:2']), 's:1'], 'the secondary, taking over, last');
  const orders = new Set(
    ['client-a', 'client-b', 'client-c', 'client-d'].map((id) => {
      const l = new ServerList('p:1', 's:1', undefined, id);
      l.update('p:1', 's:1', ['m:1', 'm:2']);
      return l.all()[1];
    }),
  );
  assert.ok(orders.has('m:1') && orders.has('m:2'), `clients spread over the members first: ${[...orders].join(', ')}`);
  const tried: string[] = [];
  for (let i = 0; i < 7; i++) {
    tried.push(list.current());
    list.failed();
  }
  assert.deepEqual(tried, ['p:1', others[0], 'p:1', others[1], 'p:1', others[2], 'p:1']);
  list.succeeded();
  assert.equal(list.current(), 'p:1');
  // A welcome from a server before 0.3 names no members: those we knew are kept.
  list.update('p:1', 's:1');
  assert.equal(list.all().length, 4);
});

test('a connection lost from the primary is followed by the others first; one lost from a member, by the primary', () => {
  const list = new ServerList('p:1', 's:1', undefined, 'client-a');
  list.update('p:1', 's:1', ['m:1', 'm:2']);
  const others = list.all().slice(1);
  list.succeeded();
  list.lost('p:1');
  const tried: string[] = [];
  for (let i = 0; i < 4; i++) {
    tried.push(list.current());
    list.failed();
  }
  assert.deepEqual(tried, [others[0], 'p:1', others[1], 'p:1']);
  list.succeeded();
  list.lost('m:2');
  assert.equal(list.current(), 'p:1');
  const alone = new ServerList('p:1', undefined);
  alone.lost('p:1');
  assert.equal(alone.current(), 'p:1', 'a standalone server is the only one to go back to');
});

test('a fleet that loses its primary spreads over the servers that remain; one leaving moves only its own', () => {
  const servers = ['s:1', 'm:1', 'm:2', 'm:3'];
  const first = new Map<string, number>();
  const before: string[] = [];
  for (let i = 0; i < 4000; i++) {
    const choice = returnOrder(`client-${i}`, servers)[0]!;
    before.push(choice);
    first.set(choice, (first.get(choice) ?? 0) + 1);
  }
  for (const s of servers) assert.ok(first.get(s)! > 800, `${s} is the first choice of ${first.get(s)} of 4000`);
  // m:3 leaves: a client whose first choice it was not keeps its choice.
  for (let i = 0; i < 4000; i++) {
    const after = returnOrder(`client-${i}`, ['s:1', 'm:1', 'm:2'])[0]!;
    if (before[i] !== 'm:3') assert.equal(after, before[i]);
  }
  assert.deepEqual(returnOrder('x', ['a:1', 'a:1', 'b:1']).length, 2, 'each address once');
});

test('a member or a control (no members told) keeps to the primary and the secondary', () => {
  const member = new ServerList('p:1', 's:1', 'm:1');
  member.update('p:1', 's:1', ['m:1', 'm:2']);
  assert.ok(!member.all().includes('m:1'), 'a server never dials itself');
  const control = new ServerList('p:1', 's:1');
  assert.deepEqual(control.all(), ['p:1', 's:1']);
});
