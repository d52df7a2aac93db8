// Unit tests of password hashing and the configuration store.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigStore } from '../src/store/configStore.js';
import { hashPassword, verifyPassword } from '../src/store/passwords.js';

test('passwords: scrypt hashes with a salt; only the right password verifies', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
  assert.notEqual(a, b, 'salted');
  assert.ok(!a.includes('correct horse'));
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horse!', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword('correct horse', 'plain-text'), false);
});

test('ConfigStore: every change bumps the version; keys and operators round-trip; errors are clear', async () => {
  const store = ConfigStore.memory();
  try {
    const v0 = store.version();
    store.addKey('k1', 'value-0001');
    assert.equal(store.version(), v0 + 1);
    assert.throws(() => store.addKey('k1', 'value-0002'), /exists already/);
    assert.equal(store.version(), v0 + 1, 'a refused change does not bump the version');
    store.putOperator({ name: 'op', passwordHash: await hashPassword('password-1'), role: 'operator', keys: ['k1'] });
    assert.deepEqual(
      store.operators().map((o) => [o.name, o.role, o.keys, o.hasTotp]),
      [['op', 'operator', ['k1'], false]],
    );
    assert.equal(store.operatorCount(), 1);
    store.setSetting('heartbeat', '5');
    assert.equal(store.settings().heartbeat, 5);
    assert.throws(() => store.setSetting('heartbeat', '-1'), /invalid value/);
    store.removeKey('k1');
    assert.throws(() => store.removeKey('k1'), /no key named k1/);
    assert.equal(store.version(), v0 + 4);
  } finally {
    store.close();
  }
});
