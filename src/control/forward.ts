import net from 'node:net';
import type { Duplex } from 'node:stream';
import { HeldLocal } from './heldLocal.js';
import type { SessionOpener } from './reconnectingControl.js';

export interface ForwardSpec {
  bindHost: string;
  localPort: number;
  remotePort: number;
}

export function parseForwardSpec(text: string): ForwardSpec {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3)
    throw new Error(`expected [BIND:]LOCAL_PORT:REMOTE_PORT, got ${JSON.stringify(text)}`);
  const [bindHost, local, remote] =
    parts.length === 3 ? (parts as [string, string, string]) : ['127.0.0.1', parts[0]!, parts[1]!];
  const localPort = Number(local);
  const remotePort = Number(remote);
  if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65535) throw new Error(`bad local port ${local}`);
  if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535)
    throw new Error(`bad remote port ${remote}`);
  return { bindHost, localPort, remotePort };
}

/**
 * Sessions a forward opens at once: the server's per-control limit (MAX_PENDING_SESSIONS_PER_CONTROL),
 * so that it holds over the forward's controls together (controlPool.ts) as it does for each.
 */
const MAX_OPENING = 16;

export interface ForwardEvents {
  onSession?(event: { ok: boolean; error?: string }): void;
}

const GONE = 'the local connection closed before its session was set up';

/**
 * A local listener whose every connection becomes a session to a port on the client's machine.
 * The service must see what it would see without the relay: connections in the order they were
 * accepted, and none that is already gone. So sessions are asked for one connection at a time, in
 * accept order (the server and the client keep that order), each once its connection has shown it
 * is there (see HeldLocal); their setups then run side by side.
 */
export async function startForward(
  control: SessionOpener,
  clientName: string,
  spec: ForwardSpec,
  events: ForwardEvents = {},
): Promise<net.Server> {
  // The turn to ask for a session, passed from each connection to the next in accept order.
  let gate: Promise<void> = Promise.resolve();
  // The server lets one control have only so many sessions opening at once; the one whose turn it
  // is waits for a slot (only it waits, so nobody overtakes).
  let opening = 0;
  let slotFreed: (() => void) | undefined;
  const carry = async (local: HeldLocal) => {
    const previous = gate;
    let pass!: () => void;
    gate = new Promise<void>((resolve) => (pass = resolve));
    let opened: Promise<Duplex> | undefined;
    try {
      // Its own watch runs alongside its predecessors' turns.
      await Promise.all([previous, local.settle()]);
      if (!local.gone) {
        while (opening >= MAX_OPENING) await new Promise<void>((resolve) => (slotFreed = resolve));
        opening++;
        opened = control.open(clientName, { kind: 'forward', port: spec.remotePort });
      }
    } finally {
      pass();
    }
    if (!opened) {
      local.drop();
      events.onSession?.({ ok: false, error: GONE });
      return;
    }
    try {
      const remote = await opened;
      // Opened for a connection that went meanwhile: closed without a byte sent.
      if (local.gone) {
        remote.destroy();
        throw new Error(GONE);
      }
      local.attach(remote);
      events.onSession?.({ ok: true });
    } catch (err) {
      local.drop();
      events.onSession?.({ ok: false, error: (err as Error).message });
    } finally {
      opening--;
      slotFreed?.();
      slotFreed = undefined;
    }
  };
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    socket.setNoDelay(true);
    void carry(new HeldLocal(socket));
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
