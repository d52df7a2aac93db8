/** The members a welcome names for a client to return to (src/server/returnMembers.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { returnMembers } from '../src/server/returnMembers.js';
import { MAX_RETURN_MEMBERS } from '../src/protocol/messages.js';

const row = (address: string, patch: Partial<{ weight: number; enabled: boolean; secondary: boolean }> = {}) => ({
  address,
  weight: 100,
  enabled: true,
  secondary: false,
  ...patch,
});

test('members that take clients, besides the primary and the secondary; none outside a cluster', () => {
  const table = [
    row('s:1', { secondary: true }),
    row('m:1'),
    row('m:2', { enabled: false }),
    row('m:3', { weight: 0 }),
    row('m:4'),
    row('p:1'),
  ];
  assert.deepEqual(returnMembers({ primary: 'p:1', secondary: 's:1' }, table), ['m:1', 'm:4']);
  assert.equal(returnMembers({}, table), undefined);
});

test('at most as many as the welcome can vouch pins for', () => {
  const table = Array.from({ length: 40 }, (_, i) => row(`m:${i + 1}`));
  const members = returnMembers({ primary: 'p:1', secondary: 's:1' }, table)!;
  assert.equal(members.length, MAX_RETURN_MEMBERS);
  assert.ok(members.length + 2 <= 16);
});
