/** Issue 18: the pin formats --tls-fingerprint accepts, and what each matches. */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { joinPins, parsePins, pinsMatch, spkiHash, spkiPin } from '../src/net/pins.js';
import { ErrorCodes } from '../src/protocol/errors.js';

async function certWith(privateKey: string, publicKey: string): Promise<X509Certificate> {
  const pems = await generate([{ name: 'commonName', value: 'pins' }], {
    keyPair: { privateKey, publicKey },
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
  });
  return new X509Certificate(pems.cert);
}

function pemPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

test('pins: a certificate fingerprint matches one certificate; a key pin (any notation) every certificate of that key', async () => {
  const key = pemPair();
  const [a, b] = [await certWith(key.privateKey, key.publicKey), await certWith(key.privateKey, key.publicKey)];
  const other = pemPair();
  const c = await certWith(other.privateKey, other.publicKey);
  assert.notEqual(a.fingerprint256, b.fingerprint256);
  assert.equal(spkiPin(a), spkiPin(b));

  const byCert = parsePins(a.fingerprint256);
  assert.equal(pinsMatch(byCert, a.raw), true);
  assert.equal(pinsMatch(byCert, b.raw), false, 'a renewed certificate has another fingerprint');

  const der = a.publicKey.export({ type: 'spki', format: 'der' });
  const b64 = createHash('sha256').update(der).digest('base64');
  const hex = createHash('sha256').update(der).digest('hex');
  for (const notation of [spkiPin(a), `sha256/${b64}`, `sha256//${b64}`, `spki:${hex}`, hex, hex.toUpperCase()]) {
    const pins = parsePins(notation);
    assert.equal(pinsMatch(pins, a.raw), true, notation);
    assert.equal(pinsMatch(pins, b.raw), true, `${notation}: the renewed certificate, same key`);
    assert.equal(pinsMatch(pins, c.raw), false, `${notation}: another key`);
  }
  assert.equal(spkiHash(a), hex.toUpperCase());

  // Several pins: any one is enough (a key roll pins the old and the new key).
  const both = parsePins(`${spkiPin(a)}, ${spkiPin(c)}`);
  assert.equal(pinsMatch(both, b.raw), true);
  assert.equal(pinsMatch(both, c.raw), true);
  assert.equal(joinPins(undefined, spkiPin(a), '', spkiPin(c)), `${spkiPin(a)},${spkiPin(c)}`);
  assert.equal(joinPins(undefined, ''), undefined);
});

test('pins: anything else is refused with SB_ERR_CONFIG and a message saying what a pin looks like', () => {
  for (const bad of ['', ' , ', 'spki:sha256/short', 'sha256/!!!!', 'md5:abc', 'spki:zz', 'x'.repeat(5000)]) {
    assert.throws(
      () => parsePins(bad),
      (err: Error & { code?: string }) =>
        err.code === ErrorCodes.CONFIG && /pin/.test(err.message) && err.message.length < 400,
      JSON.stringify(bad.slice(0, 20)),
    );
  }
  assert.throws(() => parsePins(Array(40).fill('AB').join(',')), /at most 32/);
  // A fingerprint of any length parses, as it always did: a wrong one fails at the handshake.
  assert.doesNotThrow(() => parsePins('AA:BB:CC'));
});

test('pins: a key pin whose base64 begins with a slash is read whole, in either notation', () => {
  // A first byte of 0xfc is a base64 text that starts with '/': `spki:sha256//...` is that pin, not curl's `//`.
  const hash = Buffer.concat([Buffer.from([0xfc]), Buffer.alloc(31, 7)]);
  const b64 = hash.toString('base64');
  assert.equal(b64[0], '/');
  const hex = hash.toString('hex').toUpperCase();
  for (const notation of [`spki:sha256/${b64}`, `sha256/${b64}`, `sha256//${b64}`])
    assert.deepEqual([...parsePins(notation).spki], [hex], notation);
});
