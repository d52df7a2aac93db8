import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';

const LOCK_FILE = 'server.lock';
/** Beside the lock, for people and for the second server's message; the lock itself is the kernel's. */
const PID_FILE = 'server.pid';

/**
 * One server per data directory: two would both place clients, answer controls and write the same
 * store's meta. The lock is an exclusive SQLite transaction held open on a file of its own for as
 * long as the server runs. SQLite locks with fcntl(), so the kernel drops the lock when the process
 * ends, however it ends (SIGKILL, a crash): there is no stale lock to detect and no recorded pid to
 * trust after it may have been reused. Node has no flock() of its own, and better-sqlite3 is already a
 * dependency, so this needs no new native code. Only `switchboard server` takes it: `config --data`
 * edits the store while its server runs, and SQLite serialises those writes.
 */
export class DataLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly pidFile: string,
  ) {}

  /** Takes the directory's lock, or throws SB_ERR_DATA_LOCKED naming the server that holds it. */
  static acquire(dataDir: string): DataLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pidFile = join(dataDir, PID_FILE);
    // timeout 0: a held lock is an answer now, not something to wait for.
    const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
    try {
      // No journal file: the transaction never writes, it only holds the lock.
      db.pragma('journal_mode = MEMORY');
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db.close();
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY') {
        const holder = DataLock.holder(pidFile);
        throw new SwitchboardError(
          ErrorCodes.DATA_LOCKED,
          `another switchboard server${holder ? ` (pid ${holder})` : ''} is running on the data directory ${dataDir}; stop it first, or give this one another --data`,
        );
      }
      throw err;
    }
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
    return new DataLock(db, pidFile);
  }

  private static holder(pidFile: string): number | undefined {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  release(): void {
    rmSync(this.pidFile, { force: true });
    this.db.close();
  }
}
