// Unit tests of the small parsers of the CLI and the settings.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePorts } from '../src/cli/common.js';
import { parseForwardSpec } from '../src/control/forward.js';
import { parseSetting } from '../src/store/settings.js';

// ---- small parsers ---------------------------------------------------------------------------------------

test('parseForwardSpec and parsePorts: what the CLI accepts and refuses', () => {
  assert.deepEqual(parseForwardSpec('2222:22'), { bindHost: '127.0.0.1', localPort: 2222, remotePort: 22 });
  assert.deepEqual(parseForwardSpec('0.0.0.0:0:80'), { bindHost: '0.0.0.0', localPort: 0, remotePort: 80 });
  for (const bad of ['22', '1:2:3:4', 'a:22', '22:0', '22:70000', '-1:22', '22:'])
    assert.throws(() => parseForwardSpec(bad), Error, bad);
  assert.deepEqual(parsePorts('22, 8080,443'), [22, 8080, 443]);
  assert.deepEqual(parsePorts(undefined), []);
  for (const bad of ['0', '65536', 'ssh', '22,,80', '1.5']) assert.throws(() => parsePorts(bad), /bad port/, bad);
});

test('settings: values are parsed and range-checked', () => {
  assert.equal(parseSetting('heartbeat', '1'), 1);
  assert.equal(parseSetting('require-tls', 'true'), true);
  assert.equal(parseSetting('require-tls', false), false);
  assert.equal(parseSetting('lockout-attempts', '3'), 3);
  for (const [name, value] of [
    ['heartbeat', '0'],
    ['heartbeat', 'x'],
    ['hello-timeout', '0.1'],
    ['lockout-attempts', '1.5'],
    ['require-tls', 'yes'],
  ] as const) {
    assert.throws(() => parseSetting(name, value), /invalid value/, `${name}=${value}`);
  }
});
