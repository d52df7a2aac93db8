/**
 * Issue 15, "one policy for trying the primary then the secondary": the agent, a member and a
 * control all take their next address from ServerList (src/net/serverList.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerList } from '../src/net/serverList.js';

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
