import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * A file's bytes read and written through its FileHandle, for both ends of a `files` session. Not
 * fs streams on the descriptor: an fs stream closes its descriptor whenever it is destroyed (a cut
 * transfer), whatever `autoClose` says, and a descriptor closed twice may be someone else's by then.
 * Here the handle has one owner, who syncs and closes it once.
 */

/** The first `size` bytes, in chunks of their own (each is handed to a socket, so none is reused). */
export async function* readChunks(handle: FileHandle, size: number, chunkBytes = 256 * 1024): AsyncGenerator<Buffer> {
  let position = 0;
  while (position < size) {
    const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return; // shorter than it was: the receiver sees no trailer
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Writes at the handle's position, one write at a time; ending or destroying it leaves the handle open. */
export function handleSink(handle: FileHandle, highWaterMark = 1024 * 1024): Writable {
  return new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, done) {
      writeAll(handle, chunk).then(() => done(), done);
    },
    writev(chunks, done) {
      const all = Buffer.concat(chunks.map((c) => c.chunk as Buffer));
      writeAll(handle, all).then(() => done(), done);
    },
  });
}
