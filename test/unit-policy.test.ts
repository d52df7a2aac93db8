// Unit tests of the client's local policy.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkPolicy, type LocalPolicy } from '../src/client/policy.js';

// ---- local policy --------------------------------------------------------------------------------------

test('checkPolicy: only listed ports on the client itself, commands only with --allow-exec', () => {
  const policy: LocalPolicy = { allowForward: new Set([22, 8080]), allowExec: false };
  assert.equal(checkPolicy(policy, { kind: 'forward', port: 22 }), undefined);
  assert.equal(checkPolicy(policy, { kind: 'forward', port: 8080, host: 'localhost' }), undefined);
  assert.equal(checkPolicy(policy, { kind: 'forward', port: 8080, host: '127.0.0.1' }), undefined);
  assert.match(
    checkPolicy(policy, { kind: 'forward', port: 23 })!.message,
    /port 23 is not in this client's --allow-forward list/,
  );
  assert.match(
    checkPolicy(policy, { kind: 'forward', port: 22, host: '10.0.0.5' })!.message,
    /only to its own machine/,
  );
  const refused = checkPolicy(policy, { kind: 'exec', command: ['id'] });
  assert.equal(refused?.code, 'SB_ERR_POLICY_REFUSED');
  assert.match(refused!.message, /--allow-exec/);
  assert.equal(checkPolicy({ ...policy, allowExec: true }, { kind: 'exec', command: ['id'] }), undefined);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 10 }),
      fc.integer({ min: 1, max: 65535 }),
      (allowed, port) => {
        const result = checkPolicy({ allowForward: new Set(allowed), allowExec: false }, { kind: 'forward', port });
        assert.equal(result === undefined, allowed.includes(port));
        if (result) assert.equal(result.code, 'SB_ERR_POLICY_REFUSED');
      },
    ),
  );
});
