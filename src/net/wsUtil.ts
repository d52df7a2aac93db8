import WebSocket from 'ws';

/** Close reasons are capped at 123 bytes by the protocol; longer ones would throw. */
export function closeWith(ws: WebSocket, code: number, reason: string): void {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, text);
  // A peer that ignores the close handshake must not hold the socket.
  setTimeout(() => ws.terminate(), 2000).unref();
}

export function sendJson(ws: WebSocket, message: object): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

export function remoteAddressOf(socket: { remoteAddress?: string }): string {
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
