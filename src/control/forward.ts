import net from 'node:net';
import { splice } from '../server/splice.js';
import type { SessionOpener } from './reconnectingControl.js';

export interface ForwardSpec {
  bindHost: string;
  localPort: number;
  remotePort: number;
}

export function parseForwardSpec(text: string): ForwardSpec {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) throw new Error(`expected [BIND:]LOCAL_PORT:REMOTE_PORT, got ${JSON.stringify(text)}`);
  const [bindHost, local, remote] = parts.length === 3 ? (parts as [string, string, string]) : ['127.0.0.1', parts[0]!, parts[1]!];
  const localPort = Number(local);
  const remotePort = Number(remote);
  if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65535) throw new Error(`bad local port ${local}`);
  if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) throw new Error(`bad remote port ${remote}`);
  return { bindHost, localPort, remotePort };
}

/** Sessions a forward opens at once: the server's per-control limit (MAX_PENDING_SESSIONS_PER_CONTROL). */
const MAX_OPENING = 16;

export interface ForwardEvents {
  onSession?(event: { ok: boolean; error?: string }): void;
}

/**
 * A local listener whose every connection becomes a session to a port on the client's machine.
 * The local socket is held paused until the session is up, so no byte is lost or buffered twice.
 */
export async function startForward(control: SessionOpener, clientName: string, spec: ForwardSpec, events: ForwardEvents = {}): Promise<net.Server> {
  // The server lets one control have only so many sessions opening at once; more wait their turn.
  let opening = 0;
  const waiting: (() => void)[] = [];
  const openSession = async () => {
    while (opening >= MAX_OPENING) await new Promise<void>((r) => waiting.push(r));
    opening++;
    try {
      return await control.open(clientName, { kind: 'forward', port: spec.remotePort });
    } finally {
      opening--;
      waiting.shift()?.();
    }
  };
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (local) => {
    local.setNoDelay(true);
    local.on('error', () => local.destroy());
    openSession().then(
      (remote) => {
        if (local.destroyed) return void remote.destroy();
        splice(local, remote);
        events.onSession?.({ ok: true });
      },
      (err: Error) => {
        local.destroy();
        events.onSession?.({ ok: false, error: err.message });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.localPort, spec.bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
