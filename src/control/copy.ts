import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { handleSink, readChunks } from '../protocol/fileIo.js';
import { putFile, readListing, receiveFile, type FileEntry } from '../protocol/fileWire.js';
import type { SessionOpener } from './reconnectingControl.js';

/** One end of `control cp`: a file here, or `CLIENT:PATH` inside that client's --allow-files directory. */
export type CopyEnd = { local: string } | { client: string; path: string };

/** `CLIENT:PATH` when a colon comes before any slash (as scp reads it); anything else is a local path. */
export function parseCopyEnd(text: string): CopyEnd {
  const m = /^([^/\\:]+):(.*)$/s.exec(text);
  return m ? { client: m[1]!, path: m[2]! } : { local: text };
}

/** What `cp SOURCE DESTINATION` does: exactly one side must be on a client. */
export function parseCopy(
  source: string,
  destination: string,
):
  | { op: 'put'; local: string; client: string; path: string }
  | { op: 'get'; client: string; path: string; local: string } {
  const from = parseCopyEnd(source);
  const to = parseCopyEnd(destination);
  if ('local' in from && 'client' in to) return { op: 'put', local: from.local, client: to.client, path: to.path };
  if ('client' in from && 'local' in to) return { op: 'get', client: from.client, path: from.path, local: to.local };
  throw new SwitchboardError(
    ErrorCodes.BAD_MESSAGE,
    'cp copies between here and one client: cp LOCAL CLIENT:PATH or cp CLIENT:PATH LOCAL',
  );
}

export type Progress = (done: number, total: number) => void;

export interface CopyResult {
  /** Where the file now is: the local path of a download, the path in the client's directory of an upload. */
  path: string;
  size: number;
  sha256: string;
}

function ended(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.once('error', reject);
    sink.end(resolve);
  });
}

/**
 * Writes a file the way a crash or a cut cannot leave half of it under its name: into a temporary
 * file in the same directory, synced, then renamed; on any failure the temporary file is removed.
 */
export async function writeAtomically(final: string, fill: (sink: Writable) => Promise<void>): Promise<void> {
  const temp = join(dirname(final), `.${basename(final).slice(0, 200)}.${randomBytes(6).toString('hex')}.sb-part`);
  const handle: FileHandle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o666,
  );
  const sink = handleSink(handle);
  try {
    await fill(sink);
    await ended(sink);
    await handle.sync();
    await handle.close();
    await rename(temp, final);
  } catch (err) {
    sink.destroy();
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** A local destination that is a directory (or says so with a trailing slash) gets the remote file's name. */
async function localTarget(local: string, remotePath: string): Promise<string> {
  const isDir = /[/\\]$/.test(local) || (await stat(local).catch(() => undefined))?.isDirectory();
  return isDir ? join(local, basename(remotePath)) : local;
}

/** `cp CLIENT:PATH LOCAL`: the file, checked by its SHA-256, under LOCAL only once it is all there. */
export async function download(
  opener: SessionOpener,
  client: string,
  remotePath: string,
  local: string,
  onProgress?: Progress,
): Promise<CopyResult> {
  const final = await localTarget(local, remotePath);
  const far = await opener.open(client, { kind: 'files', op: 'get', path: remotePath });
  try {
    let result: { size: number; sha256: string } | undefined;
    await writeAtomically(final, async (sink) => {
      result = await receiveFile(far, sink, { onBytes: onProgress });
    });
    return { path: final, ...result! };
  } finally {
    far.destroy();
  }
}

/** `cp LOCAL CLIENT:PATH`: the client keeps the file under PATH only once its SHA-256 matched. */
export async function upload(
  opener: SessionOpener,
  local: string,
  client: string,
  remotePath: string,
  onProgress?: Progress,
): Promise<CopyResult> {
  const handle = await open(local, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new SwitchboardError(ErrorCodes.FILE_FAILED, `${local} is not a regular file`);
    const path = remotePath === '' || /[/\\]$/.test(remotePath) ? remotePath + basename(local) : remotePath;
    const far = await opener.open(client, { kind: 'files', op: 'put', path, size: info.size });
    try {
      return { path, ...(await putFile(far, readChunks(handle, info.size), info.size, onProgress)) };
    } finally {
      far.destroy();
    }
  } finally {
    await handle.close();
  }
}

/** A directory in the client's --allow-files directory ('' for the directory itself). */
export async function listRemote(
  opener: SessionOpener,
  client: string,
  path: string,
): Promise<{ entries: FileEntry[]; truncated: boolean }> {
  const far = await opener.open(client, { kind: 'files', op: 'list', path });
  try {
    return await readListing(far);
  } finally {
    far.destroy();
  }
}
