import { createHash } from 'node:crypto';
import type { Duplex, Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from './errors.js';

/**
 * The bytes of a `files` session once the client has accepted it (the target says which op):
 *
 *   get   client → control  `{"size":N}\n`, N raw bytes, `{"sha256":"…"}\n`, then the end
 *   put   control → client  N raw bytes (N is the target's size), `{"sha256":"…"}\n`;
 *         client → control  `{"ok":true,…}\n` once the file is under its final name, or `{"error":…}\n`
 *   list  client → control  `{"entries":[…],"truncated":…}\n`, then the end
 *
 * The bulk goes raw, with no framing to pay for; the SHA-256 trailer checks it end to end, and a
 * stream that ends before its trailer is a cut transfer, never a short file.
 */

/** A header, trailer or reply line; a listing of MAX_LIST_ENTRIES long names fits. */
export const MAX_FILE_LINE_BYTES = 4 * 1024 * 1024;
/** Entries a listing carries; a larger directory is listed in part, and says so. */
export const MAX_LIST_ENTRIES = 5000;

const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const wireError = z.object({ code: z.string().max(64), message: z.string().max(1000) });

export const FileHeader = z.object({ size });
export const FileTrailer = z.object({ sha256 });
export const PutReply = z.union([z.object({ ok: z.literal(true), size, sha256 }), z.object({ error: wireError })]);
export type PutReply = z.infer<typeof PutReply>;

export const FileEntry = z.object({
  name: z.string().max(4096),
  type: z.enum(['file', 'dir', 'link', 'other']),
  size,
  mtime: z.string().max(64),
});
export type FileEntry = z.infer<typeof FileEntry>;
export const ListReply = z.union([
  z.object({ entries: z.array(FileEntry).max(MAX_LIST_ENTRIES), truncated: z.boolean() }),
  z.object({ error: wireError }),
]);
export type ListReply = z.infer<typeof ListReply>;

export function jsonLine(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) + '\n');
}

function parseLine<S extends z.ZodType>(schema: S, line: string, what: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, `the ${what} is not JSON`);
  }
  const checked = schema.safeParse(value);
  if (!checked.success) throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, `the ${what} is malformed`);
  return checked.data;
}

const cut = (received: number, size: number | undefined) =>
  new SwitchboardError(
    ErrorCodes.FILE_FAILED,
    `the transfer was cut after ${received} of ${size === undefined ? 'an unknown number of' : size} bytes`,
  );

/**
 * Receives a file's bytes into `sink` and checks them against the trailer's SHA-256. With no `size`
 * the stream starts with a header that gives it (get); with one, the bytes come at once (put). The
 * sink is written with backpressure but not ended: the caller decides what a complete file becomes.
 */
export function receiveFile(
  stream: Readable,
  sink: Writable,
  options: { size?: number; onHeader?(size: number): void; onBytes?(received: number, size: number): void } = {},
): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = options.size;
    let state: 'header' | 'body' | 'trailer' = size === undefined ? 'header' : size === 0 ? 'trailer' : 'body';
    let received = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let done = false;
    const finish = (err?: Error, result?: { size: number; sha256: string }) => {
      if (done) return;
      done = true;
      stream.off('data', onData);
      stream.off('end', onCut);
      stream.off('close', onCut);
      sink.off('error', finish);
      if (err) reject(err);
      else resolve(result!);
    };
    const onCut = () => finish(cut(received, size));
    const onLine = (line: string) => {
      if (state === 'header') {
        size = parseLine(FileHeader, line, 'file header').size;
        options.onHeader?.(size);
        state = size === 0 ? 'trailer' : 'body';
        return;
      }
      const digest = hash.digest('hex');
      const trailer = parseLine(FileTrailer, line, 'file trailer');
      if (trailer.sha256 !== digest)
        throw new SwitchboardError(
          ErrorCodes.INTEGRITY,
          `SHA-256 mismatch: ${digest} received, ${trailer.sha256} sent; the file was not kept`,
        );
      finish(undefined, { size: size!, sha256: digest });
    };
    const onData = (chunk: Buffer) => {
      try {
        while (chunk.length > 0 && !done) {
          if (state === 'body') {
            const part = chunk.subarray(0, Math.min(chunk.length, size! - received));
            chunk = chunk.subarray(part.length);
            hash.update(part);
            received += part.length;
            options.onBytes?.(received, size!);
            if (!sink.write(part)) {
              stream.pause();
              sink.once('drain', () => stream.resume());
            }
            if (received === size) state = 'trailer';
            continue;
          }
          const newline = chunk.indexOf(10);
          if (newline === -1) {
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (pendingBytes > MAX_FILE_LINE_BYTES)
              throw new SwitchboardError(ErrorCodes.MESSAGE_TOO_BIG, 'a file session line is too long');
            return;
          }
          const line = Buffer.concat([...pending, chunk.subarray(0, newline)]).toString('utf8');
          pending = [];
          pendingBytes = 0;
          chunk = chunk.subarray(newline + 1);
          onLine(line);
        }
      } catch (err) {
        finish(err as Error);
      }
    };
    stream.on('error', () => undefined); // a reset shows as 'close' before the trailer: a cut
    stream.on('data', onData);
    stream.once('end', onCut);
    stream.once('close', onCut);
    sink.once('error', finish);
    stream.resume();
  });
}

/** Waits until `stream` takes more, or fails if it closes first. */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed)
      return reject(new SwitchboardError(ErrorCodes.FILE_FAILED, 'the transfer was cut: the other end closed'));
    const onDrain = () => {
      stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      stream.off('drain', onDrain);
      reject(new SwitchboardError(ErrorCodes.FILE_FAILED, 'the transfer was cut: the other end closed'));
    };
    stream.once('drain', onDrain);
    stream.once('close', onClose);
  });
}

/**
 * Sends exactly `size` bytes of `source` to `stream`, then the trailer with their SHA-256 (which it
 * returns). A source that ends short or runs long (a file that changed while it was read) fails: the
 * receiver then sees no trailer and keeps nothing.
 */
export async function sendFile(
  stream: Writable,
  source: AsyncIterable<Buffer>,
  size: number,
  onBytes?: (sent: number, size: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  for await (const chunk of source) {
    if (sent + chunk.length > size)
      throw new SwitchboardError(ErrorCodes.FILE_FAILED, `the file grew past ${size} bytes while it was sent`);
    hash.update(chunk);
    sent += chunk.length;
    onBytes?.(sent, size);
    if (!stream.write(chunk)) await drained(stream);
  }
  if (sent !== size)
    throw new SwitchboardError(ErrorCodes.FILE_FAILED, `the file shrank to ${sent} of ${size} bytes while it was sent`);
  const digest = hash.digest('hex');
  stream.write(jsonLine({ sha256: digest }));
  return digest;
}

/** Reads the one line a stream answers with (a put's reply, a listing) and checks it. */
export function readReply<S extends z.ZodType>(stream: Readable, schema: S, what: string): Promise<z.infer<S>> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let bytes = 0;
    let done = false;
    const finish = (err?: Error, value?: z.infer<S>) => {
      if (done) return;
      done = true;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      if (err) reject(err);
      else resolve(value as z.infer<S>);
    };
    const onEnd = () => finish(new SwitchboardError(ErrorCodes.FILE_FAILED, `the session ended before the ${what}`));
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(10);
      parts.push(newline === -1 ? chunk : chunk.subarray(0, newline));
      bytes += chunk.length;
      if (newline !== -1) {
        try {
          finish(undefined, parseLine(schema, Buffer.concat(parts).toString('utf8'), what));
        } catch (err) {
          finish(err as Error);
        }
      } else if (bytes > MAX_FILE_LINE_BYTES) {
        finish(new SwitchboardError(ErrorCodes.MESSAGE_TOO_BIG, `the ${what} is too long`));
      }
    };
    stream.on('error', () => undefined);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.resume();
  });
}

/** A reply's error as the error it is (codes from a client are bounded by the server's refusal rules). */
export function replyError(error: { code: string; message: string }): SwitchboardError {
  const code = error.code === ErrorCodes.POLICY_REFUSED ? ErrorCodes.POLICY_REFUSED : ErrorCodes.FILE_FAILED;
  return new SwitchboardError(code, `client: ${error.message}`);
}

/**
 * The sending end of a put, whoever sends (`control cp`, the console's upload through the API): the
 * bytes and their trailer go up while the reply is awaited, since the client may answer early (a
 * full disk); the file counts as copied only when the client's SHA-256 is the one sent.
 */
export async function putFile(
  far: Duplex,
  source: AsyncIterable<Buffer>,
  size: number,
  onBytes?: (sent: number, size: number) => void,
): Promise<{ size: number; sha256: string }> {
  const reply = readReply(far, PutReply, 'reply to the upload');
  reply.catch(() => undefined); // a failed send is the error to report, not the missing reply
  const sending = sendFile(far, source, size, onBytes);
  sending.catch(() => far.destroy()); // the client then sees a cut transfer and keeps nothing
  const answer = await Promise.race([sending.then(() => reply), reply]);
  if ('error' in answer) throw replyError(answer.error);
  const sent = await sending;
  if (answer.sha256 !== sent)
    throw new SwitchboardError(ErrorCodes.INTEGRITY, `SHA-256 mismatch: ${sent} sent, ${answer.sha256} kept`);
  return { size: answer.size, sha256: answer.sha256 };
}

/** The listing a `list` session answers with. */
export async function readListing(far: Readable): Promise<{ entries: FileEntry[]; truncated: boolean }> {
  const reply = await readReply(far, ListReply, 'listing');
  if ('error' in reply) throw replyError(reply.error);
  return reply;
}
