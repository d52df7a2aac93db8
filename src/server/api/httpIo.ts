import type http from 'node:http';
import { ErrorCodes } from '../../protocol/errors.js';
import { ApiError } from './apiError.js';

/** Request bodies are small JSON documents; anything bigger is refused before it is buffered. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Headers on every API answer: never cached (they carry tokens and config), never sniffed or framed. */
export const API_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  if (res.headersSent) return void res.end();
  if (status === 204) {
    res.writeHead(204, { ...API_HEADERS, ...headers });
    return void res.end();
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...API_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads a JSON body up to `limit` bytes; an empty body is `{}`. */
export function readJsonBody(req: http.IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit)
    return Promise.reject(new ApiError(413, ErrorCodes.MESSAGE_TOO_BIG, `request body over ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        // Stop reading but let the answer go out; the connection closes after it.
        req.pause();
        reject(new ApiError(413, ErrorCodes.MESSAGE_TOO_BIG, `request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    // The caller hung up before its body was in (Node's 'aborted'): its fault, not a server error.
    req.once('error', () => {
      if (!failed)
        reject(new ApiError(400, ErrorCodes.BAD_MESSAGE, 'request body not received: the connection closed'));
    });
    req.once('end', () => {
      if (failed) return;
      if (size === 0) return resolve({});
      const type = String(req.headers['content-type'] ?? '');
      // Only JSON: an HTML form cannot send it cross-site without a preflight, one more CSRF guard.
      if (!/^application\/json\b/i.test(type))
        return reject(new ApiError(415, ErrorCodes.BAD_MESSAGE, 'request body must be application/json'));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new ApiError(400, ErrorCodes.BAD_MESSAGE, 'request body is not valid JSON'));
      }
    });
  });
}
