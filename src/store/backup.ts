import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError, ErrorCodes } from '../protocol/errors.js';
import { migrations } from './schema.js';

/**
 * Backup and restore of a server's data directory as one file: the SQLite store copied with
 * SQLite's online backup (a consistent snapshot while the server keeps writing), and the files the
 * server keeps beside it (its self-signed TLS certificate and key, which clients may pin) carried
 * in a table of the copy.
 */

const STORE_FILE = 'switchboard.db';
/** Files of the data directory that a restored server needs to be the same server. */
const DATA_FILES = ['tls-cert.pem', 'tls-key.pem'];
/** Only in backup files: the data directory's files. */
const FILES_TABLE = 'backup_files';

function fail(message: string): never {
  throw new SwitchboardError(ErrorCodes.CONFIG, message);
}

/** Whether the database is a Switchboard store this version can open (its tables, a known schema version). */
function checkStore(db: Database.Database, what: string): void {
  const tables = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name),
  );
  const missing = ['keys', 'operators', 'servers', 'settings', 'meta'].filter((t) => !tables.has(t));
  if (missing.length) fail(`${what} is not a Switchboard store (no table ${missing.join(', ')})`);
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < 1 || version > migrations.length)
    fail(`${what} has store schema ${version}; this Switchboard reads 1 to ${migrations.length}`);
}

function openExisting(file: string, what: string): Database.Database {
  try {
    return new Database(file, { fileMustExist: true });
  } catch (err) {
    fail(`cannot open ${what}: ${(err as Error).message}`);
  }
}

/** Copies the store of `dataDir` (its server may be running) and its TLS files to `out`, owner-only. */
export async function backupStore(dataDir: string, out: string): Promise<{ files: string[] }> {
  const storeFile = join(dataDir, STORE_FILE);
  if (!existsSync(storeFile)) fail(`${dataDir} holds no Switchboard store (${STORE_FILE})`);
  if (existsSync(out)) fail(`${out} exists; give a new file`);
  const db = openExisting(storeFile, storeFile);
  const partial = `${out}.partial`;
  try {
    checkStore(db, storeFile);
    mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
    rmSync(partial, { force: true });
    writeFileSync(partial, '', { mode: 0o600 });
    await db.backup(partial);
  } finally {
    db.close();
  }
  const copy = new Database(partial);
  const files = DATA_FILES.filter((name) => existsSync(join(dataDir, name)));
  try {
    // The copy is a database of its own: journal in the file itself, not in a WAL beside it.
    copy.pragma('journal_mode = DELETE');
    copy.exec(`CREATE TABLE ${FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL)`);
    const insert = copy.prepare(`INSERT INTO ${FILES_TABLE} (name, content) VALUES (?, ?)`);
    for (const name of files) insert.run(name, readFileSync(join(dataDir, name)));
  } finally {
    copy.close();
  }
  chmodSync(partial, 0o600);
  renameSync(partial, out);
  return { files };
}

/** Makes `dataDir` (new or empty) a data directory holding the backup's store and files. */
export async function restoreStore(from: string, dataDir: string): Promise<{ files: string[] }> {
  if (existsSync(join(dataDir, STORE_FILE)))
    fail(`${dataDir} already holds a Switchboard store; restore into a new directory`);
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0)
    fail(`${dataDir} is not empty; restore into a new directory`);
  if (!existsSync(from)) fail(`${from} does not exist`);
  const backup = openExisting(from, from);
  let files: { name: string; content: Buffer }[] = [];
  try {
    try {
      backup.pragma('schema_version');
    } catch {
      fail(`${from} is not a Switchboard backup (not an SQLite database)`);
    }
    checkStore(backup, from);
    const hasFiles = backup.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(FILES_TABLE);
    if (hasFiles)
      files = backup.prepare(`SELECT name, content FROM ${FILES_TABLE}`).all() as { name: string; content: Buffer }[];
    const unknown = files.find((f) => !DATA_FILES.includes(f.name));
    if (unknown) fail(`${from} carries an unexpected file ${JSON.stringify(unknown.name)}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    await backup.backup(join(dataDir, STORE_FILE));
  } finally {
    backup.close();
  }
  const store = new Database(join(dataDir, STORE_FILE));
  try {
    store.exec(`DROP TABLE IF EXISTS ${FILES_TABLE}`);
    store.pragma('journal_mode = WAL');
  } finally {
    store.close();
  }
  chmodSync(join(dataDir, STORE_FILE), 0o600);
  for (const f of files)
    writeFileSync(join(dataDir, f.name), f.content, { mode: f.name.endsWith('key.pem') ? 0o600 : 0o644 });
  return { files: files.map((f) => f.name) };
}
