import WebSocket from 'ws';
import type { Link } from '../cluster/link.js';
import { closeWith, remoteAddressOf, sendJson } from '../server/wsUtil.js';

/** A Link over a WebSocket, with a ping every `pingMs` so a dead peer is noticed within two. */
export function wsLink(ws: WebSocket, remote: { remoteAddress?: string }, pingMs = 1000): Link {
  let alive = true;
  const timer = setInterval(() => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!alive) return void ws.terminate();
    alive = false;
    ws.ping();
  }, pingMs);
  timer.unref();
  ws.on('pong', () => (alive = true));
  ws.on('ping', () => (alive = true));
  ws.on('message', () => (alive = true));
  ws.on('close', () => clearInterval(timer));
  ws.on('error', () => undefined);
  return {
    remoteAddress: remoteAddressOf(remote),
    send: (message) => sendJson(ws, message),
    close: (code, reason) => closeWith(ws, code, reason),
    onMessage: (handler) => ws.on('message', (data) => handler(data)),
    onClose: (handler) => ws.on('close', (code, reason) => handler(code, reason.toString())),
  };
}
