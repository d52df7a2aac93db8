import type WebSocket from 'ws';
import { CloseCodes, closeCodeName } from '../protocol/closeCodes.js';
import { ClientToServer, decode, type ClientHello } from '../protocol/messages.js';
import { verifyIdentity } from '../protocol/clientIdentity.js';
import { findProvenKey, newNonce } from '../protocol/proof.js';
import type { ConnectedClient, ServerContext } from './context.js';
import { closeWith, remoteAddressOf, sendJson } from './wsUtil.js';

/**
 * A client's control channel on this server: challenge, hello with a proof of its key, then
 * placement (welcome, or redirect elsewhere in the cluster), then session requests until it goes.
 */
export function handleClientConnection(ctx: ServerContext, ws: WebSocket, remote: { remoteAddress?: string; encrypted?: boolean }): void {
  const address = remoteAddressOf(remote);
  const nonce = newNonce();
  const log = ctx.logger.child({ peer: address, channel: 'client' });
  let client: ConnectedClient | undefined;

  const helloTimer = setTimeout(() => {
    log.warn({ code: 'SB_ERR_HELLO_TIMEOUT' }, 'client sent no hello in time');
    closeWith(ws, CloseCodes.HELLO_TIMEOUT, 'no hello in time');
  }, ctx.config.settings['hello-timeout'] * 1000);

  sendJson(ws, { type: 'challenge', nonce, server: ctx.advertise, epoch: ctx.epoch() });

  ws.on('message', (data, isBinary) => {
    if (isBinary) return refuse(CloseCodes.BAD_MESSAGE, 'binary frames are not part of the protocol');
    const decoded = decode(ClientToServer, data);
    if (!decoded.ok) return refuse(CloseCodes.BAD_MESSAGE, `malformed message: ${decoded.error}`);
    const message = decoded.value;
    if (!client) {
      if (message.type !== 'hello') return refuse(CloseCodes.BAD_MESSAGE, 'expected hello');
      return onHello(message);
    }
    if (message.type === 'session-refused') ctx.broker.clientRefused(client.id, message.ticket, message.error);
    else refuse(CloseCodes.BAD_MESSAGE, `unexpected ${message.type}`);
  });

  ws.on('pong', () => {
    if (client) client.alive = true;
  });

  ws.on('close', () => {
    clearTimeout(helloTimer);
    if (!client) return;
    if (ctx.clients.get(client.id) === client) {
      ctx.clients.delete(client.id);
      ctx.broker.clientGone(client.id);
      ctx.clientDown(client);
      log.info({ client: client.id, name: client.entry.name }, 'client down');
    }
  });

  function refuse(code: number, reason: string): void {
    ctx.metrics.refusals.inc({ reason: closeCodeName(code) });
    log.warn({ client: client?.id, closeCode: code, reason }, 'client refused');
    closeWith(ws, code, reason);
  }

  function onHello(hello: ClientHello): void {
    clearTimeout(helloTimer);
    if (!verifyIdentity(hello.id, hello.publicKey, hello.signature, nonce)) {
      return refuse(CloseCodes.BAD_IDENTITY, `client ${hello.id} did not prove its identity (id not derived from its key, or bad signature)`);
    }
    const key = findProvenKey(ctx.config.keys, 'client', nonce, hello.id, hello.proof);
    if (!key) return refuse(CloseCodes.BAD_KEY, 'key not accepted');
    const placement = ctx.place(hello);
    ctx.metrics.placements.inc({ server: placement.keep ? ctx.advertise : placement.redirect });
    if (!placement.keep) {
      ctx.metrics.redirects.inc();
      sendJson(ws, { type: 'redirect', to: placement.redirect, reason: placement.reason });
      log.debug({ client: hello.id, to: placement.redirect }, 'client redirected');
      closeWith(ws, 1000, 'redirected');
      return;
    }
    const existing = ctx.clients.get(hello.id);
    if (existing) return refuse(CloseCodes.DUPLICATE_CLIENT, `client id ${hello.id} is already connected from ${existing.entry.address}`);
    client = {
      id: hello.id,
      ws,
      alive: true,
      allowForward: hello.allowForward,
      allowExec: hello.allowExec,
      secure: remote.encrypted === true,
      entry: {
        id: hello.id,
        name: hello.name,
        group: hello.group,
        platform: hello.platform,
        address,
        server: ctx.advertise,
        connectedAt: new Date().toISOString(),
        key: key.name,
        allowExec: hello.allowExec,
        allowForward: hello.allowForward,
      },
      send: (message) => sendJson(ws, message),
      close: (code, reason) => closeWith(ws, code, reason),
    };
    ctx.clients.set(client.id, client);
    sendJson(ws, { type: 'welcome', server: ctx.advertise, heartbeat: ctx.config.settings.heartbeat, cluster: ctx.clusterAddresses() });
    ctx.clientUp(client);
    log.info({ client: client.id, name: hello.name, keyName: key.name }, 'client up');
  }
}
