import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A client's id survives restarts: it is made once and kept in the state directory. */
export function loadOrCreateClientId(stateDir: string): string {
  const file = join(stateDir, 'client-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    /* first run */
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const id = randomUUID();
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}
