// Unit tests of key proofs and client identities.
// No sockets, no processes; clocks are passed in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newIdentity } from '../src/client/identity.js';
import { verifyIdentity } from '../src/protocol/clientIdentity.js';
import { findProvenKey, keyProof, newNonce } from '../src/protocol/proof.js';

// ---- proofs and identities ---------------------------------------------------------------------------

test('key proofs: bound to the key, the nonce, the purpose and the identity', () => {
  const keys = [
    { name: 'a', value: 'key-aaaaaaaa' },
    { name: 'b', value: 'key-bbbbbbbb' },
  ];
  const nonce = newNonce();
  const proof = keyProof('key-bbbbbbbb', 'client', nonce, 'id-1');
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-1', proof)?.name, 'b');
  assert.equal(findProvenKey(keys, 'client', newNonce(), 'id-1', proof), undefined, 'another nonce');
  assert.equal(findProvenKey(keys, 'control', nonce, 'id-1', proof), undefined, 'another purpose');
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-2', proof), undefined, 'another identity');
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-1', proof.slice(1)), undefined);
  assert.equal(findProvenKey(keys, 'client', nonce, 'id-1', ''), undefined);
  assert.ok(!proof.includes('key-bbbbbbbb'));
});

test('client identities: the id is derived from the key pair and the signature is bound to the nonce', () => {
  const me = newIdentity();
  const other = newIdentity();
  assert.notEqual(me.id, other.id);
  const nonce = newNonce();
  assert.equal(verifyIdentity(me.id, me.publicKey, me.sign(nonce), nonce), true);
  assert.equal(verifyIdentity(me.id, me.publicKey, me.sign(nonce), newNonce()), false, 'replayed for another nonce');
  assert.equal(verifyIdentity(other.id, me.publicKey, me.sign(nonce), nonce), false, 'another id');
  assert.equal(verifyIdentity(me.id, other.publicKey, other.sign(nonce), nonce), false, 'another key');
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.string(), (pk, sig, n) => verifyIdentity(me.id, pk, sig, n) === false),
  );
});
