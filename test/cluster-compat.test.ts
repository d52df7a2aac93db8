/**
 * Issue 20, upgrades one server at a time: adjacent cluster protocol versions interoperate, and a
 * join beyond that is refused with both versions named (the real refusal on a running primary is
 * in security-cluster.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterProtocolRefusal, MIN_CLUSTER_PROTOCOL } from '../src/protocol/clusterCompat.js';
import { CLUSTER_PROTOCOL_VERSION } from '../src/protocol/clusterMessages.js';

test('adjacent cluster protocol versions interoperate; others are refused naming both', () => {
  assert.equal(clusterProtocolRefusal(CLUSTER_PROTOCOL_VERSION), undefined);
  assert.equal(clusterProtocolRefusal(CLUSTER_PROTOCOL_VERSION + 1), undefined, 'a newer member during an upgrade');
  assert.equal(clusterProtocolRefusal(4, 5), undefined, 'an older member once the primary is upgraded');
  assert.match(
    clusterProtocolRefusal(3, 5)!,
    /cluster protocol 3 is not compatible with this primary's 5 \(accepted: 4-6\)/,
  );
  assert.match(clusterProtocolRefusal(7, 5)!, /protocol 7 .* primary's 5/);
  assert.ok(clusterProtocolRefusal(MIN_CLUSTER_PROTOCOL - 1, MIN_CLUSTER_PROTOCOL), 'version 1 never');
  for (let theirs = 0; theirs < 9; theirs++)
    assert.ok(Buffer.byteLength(clusterProtocolRefusal(theirs, 5) ?? '') <= 123, 'fits a WebSocket close reason');
});
