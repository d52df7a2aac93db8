/**
 * Issue 17's pure pieces: a device's state, which secrets prove a key during and after a rotation,
 * the sealed hand-over of a new secret, and which secret a client uses at start.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { effectiveKey, storeRotatedKey } from '../src/client/rotatedKey.js';
import { openKeyHandover, sealKeyHandover } from '../src/protocol/keyHandover.js';
import { deviceState } from '../src/server/deviceState.js';
import { acceptedSecrets } from '../src/server/keySecrets.js';
import { ConfigStore } from '../src/store/configStore.js';
import { tempDir } from './helpers/harness.js';

const rule = (r: Partial<{ revoked: boolean; approved: boolean }>) => ({
  id: 'x',
  revoked: false,
  approved: false,
  name: null,
  ...r,
});

test('deviceState: revoked wins; approval admits; known devices are not held; new ones only with approval on', () => {
  assert.equal(deviceState({ pending: false }, rule({ revoked: true, approved: true }), false), 'revoked');
  assert.equal(deviceState({ pending: true }, rule({ approved: true }), true), 'active');
  assert.equal(deviceState({ pending: false }, undefined, true), 'active');
  assert.equal(deviceState({ pending: true }, undefined, false), 'pending');
  assert.equal(deviceState(undefined, undefined, true), 'pending');
  assert.equal(deviceState(undefined, undefined, false), 'active');
});

test('acceptedSecrets: the old secret proves the key in the grace period, then is only recognised', () => {
  const key = {
    name: 'k',
    value: 'new-secret',
    createdAt: '',
    previous: 'old-secret',
    previousUntil: '2030-01-01T00:00:00.000Z',
  };
  const until = Date.parse(key.previousUntil);
  const during = acceptedSecrets([key], until - 1);
  assert.deepEqual(
    during.accepted.map((k) => [k.value, k.successor]),
    [
      ['new-secret', undefined],
      ['old-secret', 'new-secret'],
    ],
  );
  assert.equal(during.retired.length, 0);
  assert.equal(during.nextChange, until);
  const afterwards = acceptedSecrets([key], until);
  assert.deepEqual(
    afterwards.accepted.map((k) => k.value),
    ['new-secret'],
  );
  assert.deepEqual(
    afterwards.retired.map((k) => k.value),
    ['old-secret'],
  );
  assert.equal(afterwards.nextChange, Infinity);
});

test('key hand-over: opens with the old secret for that client only', () => {
  const sealed = sealKeyHandover('k', 'old-secret-123', 'new-secret-456', 'client-a');
  assert.ok(!JSON.stringify(sealed).includes('new-secret-456'));
  assert.equal(openKeyHandover(sealed, 'old-secret-123', 'client-a'), 'new-secret-456');
  assert.throws(() => openKeyHandover(sealed, 'old-secret-123', 'client-b'));
  assert.throws(() => openKeyHandover(sealed, 'other-secret-1', 'client-a'));
});

test('effectiveKey: the stored successor wins over the configured secret it replaced, not over another', () => {
  const dir = tempDir('sb-rotated-');
  try {
    assert.equal(effectiveKey(dir.path, 'configured-old'), 'configured-old');
    storeRotatedKey(dir.path, 'configured-old', 'rotated-new-secret');
    assert.equal(statSync(join(dir.path, 'rotated-key.json')).mode & 0o777, 0o600);
    assert.equal(effectiveKey(dir.path, 'configured-old'), 'rotated-new-secret');
    assert.equal(effectiveKey(dir.path, 'another-key-an-admin-set'), 'another-key-an-admin-set');
    writeFileSync(join(dir.path, 'rotated-key.json'), '{broken');
    assert.equal(effectiveKey(dir.path, 'configured-old'), 'configured-old');
    assert.ok(readFileSync(join(dir.path, 'rotated-key.json'), 'utf8'));
  } finally {
    dir.remove();
  }
});

test('store: rotate refuses a pending successor, retire needs a rotation; rules ride the snapshot', () => {
  const store = ConfigStore.memory();
  store.addKey('k', 'first-secret');
  const v = store.version();
  store.rotateKey('k', 'second-secret', new Date(Date.now() + 60_000));
  assert.throws(() => store.rotateKey('k', 'third-secret', new Date(Date.now() + 60_000)), /pending successor/);
  assert.equal(store.version(), v + 1);
  store.retireKey('k');
  assert.throws(() => store.retireKey('k'), /no rotation to retire/);
  store.rotateKey('k', 'third-secret', new Date(Date.now() + 60_000));
  assert.equal(store.keys()[0]!.previous, 'second-secret');
  store.changeConfig(() => store.deviceRules.put({ id: 'dev', revoked: true, approved: false, name: 'laptop' }));
  const copy = ConfigStore.memory();
  copy.applySnapshot(store.snapshot());
  assert.deepEqual(copy.deviceRules.all(), [{ id: 'dev', revoked: true, approved: false, name: 'laptop' }]);
  assert.deepEqual(copy.keys(), store.keys());
});
