import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A rotated key's new secret, kept owner-only in the client's state directory. The configuration
 * (`--key`, `--key-file`, the TOML file) still names the old secret, so the stored one takes
 * precedence, but only over the secret it replaced: the file records a digest of that configured
 * secret, and once an admin configures a different key the configuration wins again.
 */
const FILE = 'rotated-key.json';

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** The secret to use: the stored successor of the configured one, else the configured one. */
export function effectiveKey(stateDir: string, configured: string): string {
  let text: string;
  try {
    text = readFileSync(join(stateDir, FILE), 'utf8');
  } catch {
    return configured;
  }
  try {
    const stored = JSON.parse(text) as { replaces?: unknown; key?: unknown };
    if (stored.replaces === digest(configured) && typeof stored.key === 'string' && stored.key.length >= 8)
      return stored.key;
  } catch {
    /* a damaged file: the configured secret it is */
  }
  return configured;
}

/** Stores the new secret as the successor of the configured one (written whole, then renamed into place). */
export function storeRotatedKey(stateDir: string, configured: string, key: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ replaces: digest(configured), key, at: new Date().toISOString() }) + '\n', {
    mode: 0o600,
  });
  renameSync(tmp, file);
}
