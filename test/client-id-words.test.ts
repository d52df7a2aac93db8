/**
 * A client id is typed as a command-line word (`control exec ID`, `config device approve ID`). One
 * id in 64 used to begin with '-', which the CLI read as an unknown option. New identities never
 * begin with '-'; an older one is taken after `--`, and the refusal says so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadOrCreateIdentity, newIdentity } from '../src/client/identity.js';
import { CLIENT_ID_LENGTH, looksLikeClientId } from '../src/protocol/clientIdentity.js';
import { runCli } from './helpers/harness.js';

/** Without the rule, 640 ids all avoid '-' with a chance of (63/64)^640, about 1 in 25,000. */
const DRAWS = 640;

test("new identities, kept or not, have ids that do not begin with '-'", () => {
  const ids = Array.from({ length: DRAWS }, () => newIdentity().id);
  assert.ok(ids.every(looksLikeClientId));
  assert.deepEqual(
    ids.filter((id) => id.startsWith('-')),
    [],
  );
  const dir = mkdtempSync(join(tmpdir(), 'sb-id-words-'));
  try {
    const kept = Array.from({ length: DRAWS / 4 }, (_, i) => loadOrCreateIdentity(join(dir, String(i))).id);
    assert.deepEqual(
      kept.filter((id) => id.startsWith('-')),
      [],
    );
    // A kept identity is read back, not drawn again.
    assert.equal(loadOrCreateIdentity(join(dir, '0')).id, kept[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an older id that begins with '-' is refused as an option with a way round it, and taken after --", async () => {
  const oldId = `-${'A'.repeat(CLIENT_ID_LENGTH - 1)}`;
  // No server listens on port 1: a command that got past its command line fails on the connection.
  const gateway = ['control', '--gateway', '127.0.0.1:1', '--key', 'k'];

  const exec = await runCli([...gateway, 'exec', oldId, '--', 'true']);
  assert.equal(exec.code, 1);
  assert.match(exec.stderr, new RegExp(`unknown option '${oldId}'`));
  assert.match(exec.stderr, /write -- before it: control exec -- ID -- COMMAND/);

  const escaped = await runCli([...gateway, 'exec', '--', oldId, '--', 'true']);
  assert.notEqual(escaped.code, 0);
  assert.doesNotMatch(escaped.stderr, /unknown option/);
  assert.match(escaped.stderr, /127\.0\.0\.1:1/);

  // An unknown option that is no id gets commander's line alone.
  const typo = await runCli([...gateway, 'browse', '--bogus']);
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /unknown option '--bogus'/);
  assert.doesNotMatch(typo.stderr, /client id/);
});
