import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, opendir, readlink, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Duplex, Writable } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { handleSink, readChunks } from '../protocol/fileIo.js';
import {
  jsonLine,
  MAX_LIST_ENTRIES,
  receiveFile,
  sendFile,
  type FileEntry,
  type ListReply,
} from '../protocol/fileWire.js';
import type { SessionTarget } from '../protocol/messages.js';
import { pathParts } from './filePaths.js';
import type { PreparedSession } from './sessionRunner.js';

export type FilesTarget = Extract<SessionTarget, { kind: 'files' }>;

/**
 * The client's end of a `files` session (the bytes are in src/protocol/fileWire.ts), confined to the
 * --allow-files directory. policy.ts has already refused absolute paths and `..` by their text; here
 * symlinks are dealt with on what was actually opened: a path is resolved before it is opened (so a
 * file outside is not even opened in the common case), and the opened descriptor's real location is
 * checked after (so a symlink swapped in between cannot lead out). An upload is written to a
 * temporary name in the same directory, synced, and renamed only once its SHA-256 matched, so a cut
 * transfer never leaves a partial file under the final name.
 */
export async function prepareFiles(target: FilesTarget, root: string | undefined): Promise<PreparedSession> {
  if (root === undefined) throw refused('this client does not allow files (start it with --allow-files DIR)');
  if (target.op === 'get') return prepareGet(target.path, root);
  if (target.op === 'put') return preparePut(target.path, target.size, root);
  return prepareList(target.path, root);
}

const failed = (message: string) => new SwitchboardError(ErrorCodes.FILE_FAILED, message);
const refused = (message: string) => new SwitchboardError(ErrorCodes.POLICY_REFUSED, message);
const outside = (path: string) => refused(`${path} leads out of the allowed directory`);
const why = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

async function realRoot(root: string): Promise<string> {
  try {
    return await realpath(root);
  } catch (err) {
    throw failed(`the allowed directory is not usable (${why(err)})`);
  }
}

function isInside(rootReal: string, real: string): boolean {
  return real === rootReal || real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
}

/** Resolves a path that must exist inside the root, symlinks included. */
async function resolveInside(rootReal: string, relative: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(join(rootReal, ...pathParts(relative)));
  } catch (err) {
    throw failed(`cannot open ${relative || '.'} (${why(err)})`);
  }
  if (!isInside(rootReal, real)) throw outside(relative);
  return real;
}

/**
 * Where an open descriptor really is. On Linux the kernel says (/proc/self/fd), so nothing swapped
 * after the open can fool it; elsewhere the path is resolved again and must be the same inode.
 */
async function whereIs(handle: FileHandle, path: string): Promise<string> {
  if (process.platform === 'linux') return readlink(`/proc/self/fd/${handle.fd}`);
  const real = await realpath(path);
  const [opened, named] = await Promise.all([handle.stat(), stat(real)]);
  return opened.ino === named.ino && opened.dev === named.dev ? real : '';
}

async function prepareGet(relative: string, root: string): Promise<PreparedSession> {
  const rootReal = await realRoot(root);
  const real = await resolveInside(rootReal, relative);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO put in the file's place must not hang the open.
    handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw failed(`cannot open ${relative} (${why(err)})`);
  }
  try {
    if (!isInside(rootReal, await whereIs(handle, real))) throw outside(relative);
    const info = await handle.stat();
    if (!info.isFile()) throw failed(`${relative || '.'} is not a regular file`);
    const size = info.size;
    return {
      abort: () => void handle.close(),
      attach(data) {
        data.on('error', () => data.destroy());
        data.resume(); // nothing comes up on a get; its end must still be read
        data.write(jsonLine({ size }));
        // Only `size` bytes are read: a file that grows while it is sent is sent as it was at the open.
        const source = readChunks(handle, size);
        // The descriptor is closed once the send is over, never under a read in flight.
        sendFile(data, source, size)
          .then(
            () => data.end(),
            () => data.destroy(),
          )
          .finally(() => void handle.close());
      },
    };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function ended(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.once('error', reject);
    sink.end(resolve);
  });
}

/** Makes a rename durable: the directory entry is synced too (not possible, and not needed, everywhere). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY).catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

async function preparePut(relative: string, size: number | undefined, root: string): Promise<PreparedSession> {
  if (size === undefined) throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, 'an upload must give its size');
  const parts = pathParts(relative);
  const name = parts.pop();
  if (name === undefined) throw failed('an upload needs a file name, not the directory itself');
  const rootReal = await realRoot(root);
  const dirReal = await resolveInside(rootReal, parts.join('/'));
  const final = join(dirReal, name);
  const existing = await lstat(final).catch(() => undefined);
  if (existing?.isDirectory()) throw failed(`${relative} is a directory`);
  // Same directory as the final name, so that the rename is atomic; hidden, and unmistakably partial.
  const temp = join(dirReal, `.${name.slice(0, 200)}.${randomBytes(6).toString('hex')}.sb-part`);
  let handle: FileHandle;
  try {
    handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
  } catch (err) {
    throw failed(`cannot write in ${parts.join('/') || '.'} (${why(err)})`);
  }
  const discard = async () => {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
  };
  if (!isInside(rootReal, await whereIs(handle, temp))) {
    await discard();
    throw outside(relative);
  }
  return {
    abort: () => void discard(),
    attach(data) {
      data.on('error', () => data.destroy());
      const sink = handleSink(handle);
      receiveFile(data, sink, { size })
        .then(async (result) => {
          await ended(sink);
          await handle.sync();
          await handle.close();
          await rename(temp, final);
          await syncDirectory(dirReal);
          data.end(jsonLine({ ok: true, ...result }));
        })
        .catch(async (err: unknown) => {
          sink.destroy();
          await discard();
          const code = err instanceof SwitchboardError ? err.code : ErrorCodes.FILE_FAILED;
          const message = err instanceof SwitchboardError ? err.message : `cannot write ${relative} (${why(err)})`;
          if (!data.destroyed) data.end(jsonLine({ error: { code, message } }));
        });
    },
  };
}

function entryType(info: Awaited<ReturnType<typeof lstat>>): FileEntry['type'] {
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'dir';
  if (info.isSymbolicLink()) return 'link';
  return 'other';
}

async function prepareList(relative: string, root: string): Promise<PreparedSession> {
  const rootReal = await realRoot(root);
  const real = await resolveInside(rootReal, relative);
  let reply: ListReply;
  try {
    const entries: FileEntry[] = [];
    let truncated = false;
    for await (const dirent of await opendir(real)) {
      if (entries.length === MAX_LIST_ENTRIES) {
        truncated = true;
        break;
      }
      const info = await lstat(join(real, dirent.name)).catch(() => undefined);
      if (!info) continue; // gone since it was read
      entries.push({ name: dirent.name, type: entryType(info), size: info.size, mtime: info.mtime.toISOString() });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    reply = { entries, truncated };
  } catch (err) {
    throw failed(`cannot list ${relative || '.'} (${why(err)})`);
  }
  return {
    abort: () => undefined,
    attach(data: Duplex) {
      data.on('error', () => data.destroy());
      data.resume();
      data.end(jsonLine(reply));
    },
  };
}
