import type http from 'node:http';

/** A JSON answer on a response object, never cached: the server's own routes and the cluster calls. */
export function jsonReply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
