/**
 * A server running behind does not refuse a hello that came in time but is still unread: the
 * hello timeout is judged after the next poll of the sockets (src/server/clientHandler.ts). In a
 * failover's reconnect storm the servers left hold a queue of connections, and a client closed for
 * "no hello" when its hello was waiting in the socket goes to the back of the queue again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { newIdentity } from '../src/client/identity.js';
import { keyProof } from '../src/protocol/proof.js';
import { createLogger } from '../src/server/logger.js';
import { SwitchboardServer } from '../src/server/server.js';
import { ConfigStore } from '../src/store/configStore.js';
import { tempDir } from './helpers/harness.js';

const KEY = 'hello-late-read-key-0123456789';
const dir = tempDir('sb-hello-late-');
let server: SwitchboardServer;
let store: ConfigStore;

before(async () => {
  store = ConfigStore.open(`${dir.path}/data`);
  store.addKey('default', KEY);
  store.setSetting('hello-timeout', '1');
  server = new SwitchboardServer({ store, logger: createLogger('silent'), host: '127.0.0.1', port: 0 });
  await server.start();
});

after(async () => {
  await server?.stop();
  store?.close();
  dir.remove();
});

/** Holds this process's event loop, as a server swamped by a reconnect storm is held. */
function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test('a hello sent in time but read after the timeout has passed is welcomed', async () => {
  const identity = newIdentity();
  const ws = new WebSocket(`ws://${server.address}/v1/client`);
  const answer = await new Promise<string>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code, reason) => resolve(`closed ${code} ${reason.toString()}`));
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string; nonce?: string };
      if (msg.type === 'welcome') return resolve('welcome');
      if (msg.type !== 'challenge') return;
      ws.send(
        JSON.stringify({
          type: 'hello',
          version: 1,
          id: identity.id,
          publicKey: identity.publicKey,
          signature: identity.sign(msg.nonce!),
          name: 'late-read',
          group: '',
          platform: 'test',
          proof: keyProof(KEY, 'client', msg.nonce!, identity.id),
          allowForward: [],
          allowExec: false,
        }),
      );
      // The hello is in the server's socket now; the server (this process) reads it only after
      // its 1 s hello timer is due.
      busyFor(1500);
    });
  });
  ws.terminate();
  assert.equal(answer, 'welcome');
});
