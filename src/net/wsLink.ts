import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import type { Link } from './link.js';
import { watchPeer, type PeerWatch } from './peerWatch.js';
import { closeWith, remoteAddressOf, sendJson } from './wsUtil.js';

const EXPORTER_LABEL = 'EXPORTER-switchboard-cluster-link';

/**
 * Pings (one a second) a cluster link's peer may leave unanswered before it is dead. A peer that
 * exits closes its sockets and is noticed at once; this is for a silent one (a hung process, a lost
 * host or path). It was 4: in a fleet failover the acting secondary, given an eighth of a core by a
 * machine full of reconnecting clients, let a socket poll run past 4 s, and members cut links that
 * were alive, each costing their whole client list dropped and sent again.
 */
export const LINK_MISSED_PINGS = 10;

/**
 * The TLS session's exported keying material, or '' for a plain socket (see Link.channelBinding).
 * Taken once, while the socket is open (Node throws once it is closed); should that fail, a value
 * no other end can have, so that the link's proofs fail rather than the process.
 */
function bindingOf(socket: unknown): string {
  try {
    return socket instanceof TLSSocket
      ? socket.exportKeyingMaterial(32, EXPORTER_LABEL, Buffer.alloc(0)).toString('base64url')
      : '';
  } catch {
    return `unavailable:${randomBytes(16).toString('hex')}`;
  }
}

/**
 * A Link over a WebSocket, pinged every `pingMs`. The peer is dead when nothing (pong, ping or
 * message) came from it for `missed` intervals; a round in which our own timer ran late never
 * counts against it (the heartbeat policy, heartbeat.ts): a busy primary must not cut its members off.
 *
 * `remote` is the accepted socket (its TLS session binds the link), or, for a link we dial, an
 * address only: the socket is then the one the upgrade response comes on.
 */
export function wsLink(
  ws: WebSocket,
  remote: { remoteAddress?: string },
  pingMs = 1000,
  missed = LINK_MISSED_PINGS,
): Link {
  let binding = bindingOf(remote);
  ws.once('upgrade', (response: { socket: Socket }) => (binding = bindingOf(response.socket)));
  // Watched from the moment it is open: a link still dialling has its own timeout.
  let watch: PeerWatch | undefined;
  const startWatch = () =>
    (watch = watchPeer(
      { intervalMs: pingMs, missed },
      {
        ping: () => ws.readyState === WebSocket.OPEN && ws.ping(),
        dead: () => ws.terminate(),
      },
    ));
  if (ws.readyState === WebSocket.OPEN) startWatch();
  else ws.once('open', startWatch);
  const seen = () => watch?.seen();
  ws.on('pong', seen);
  ws.on('ping', seen);
  ws.on('message', seen);
  ws.on('close', () => watch?.stop());
  ws.on('error', () => undefined);
  return {
    remoteAddress: remoteAddressOf(remote),
    send: (message) => sendJson(ws, message),
    close: (code, reason) => closeWith(ws, code, reason),
    onMessage: (handler) => ws.on('message', (data) => handler(data)),
    onClose: (handler) => ws.on('close', (code, reason) => handler(code, reason.toString())),
    channelBinding: () => binding,
  };
}
