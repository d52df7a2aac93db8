import WebSocket from 'ws';
import { ClientAgent } from '../src/client/agent.js';
import { Backoff } from '../src/net/backoff.js';
import { newIdentity, type ClientIdentity } from '../src/client/identity.js';

/**
 * One load-generator process for the idle-clients and placement benchmarks, the same code for
 * Switchboard and for the bare baseline so that neither side gets a faster generator. Forked with
 * an IPC channel: it prepares (key pairs are made before any timing), says {ready}, waits for
 * {go}, then opens `count` connections with at most `concurrency` in progress at a time, keeps
 * them all open, and reports {done, startedAt, endedAt, retries, cpuMs} (cpuMs: this process's CPU
 * time, user and system, between go and done).
 *
 *   kind 'switchboard': a real client (ClientAgent: challenge, hello with proofs, redirect,
 *                       welcome, then heartbeats), done when it is connected (welcomed);
 *   kind 'ws':          a WebSocket to the bare server: its first message, one message of a hello's
 *                       size sent and echoed back, done.
 *
 * Argument: a JSON object {kind, target, key?, count, concurrency, prefix}.
 */
interface Spec {
  kind: 'switchboard' | 'ws';
  target: string;
  key?: string;
  count: number;
  concurrency: number;
  prefix: string;
}

const spec = JSON.parse(process.argv[2]!) as Spec;
let retries = 0;
/** Everything opened stays referenced here, so the connections are held until the process ends. */
const held: unknown[] = [];

/** A message about the size of a client's hello (ids, public key, signature, proof, name...). */
const HELLO_SIZED = JSON.stringify({ type: 'hello', pad: 'x'.repeat(380) });

function openWs(): Promise<void> {
  return new Promise((resolve) => {
    const attempt = () => {
      const ws = new WebSocket(`ws://${spec.target}/`, { perMessageDeflate: false });
      let got = 0;
      ws.on('message', () => {
        if (++got === 1) ws.send(HELLO_SIZED);
        else if (got === 2) {
          held.push(ws);
          resolve();
        }
      });
      ws.on('error', () => undefined);
      ws.on('close', () => {
        if (got < 2) {
          retries++;
          setTimeout(attempt, 250);
        }
      });
    };
    attempt();
  });
}

function switchboardOpener(): () => Promise<void> {
  // Key pairs are made now, before the clock starts: a real client has had its key for long.
  const identities: ClientIdentity[] = Array.from({ length: spec.count }, () => newIdentity());
  let n = 0;
  return () =>
    new Promise((resolve) => {
      const i = n++;
      const agent = new ClientAgent({
        gateway: spec.target,
        key: spec.key!,
        identity: identities[i]!,
        name: `${spec.prefix}-${i}`,
        group: spec.prefix,
        platform: 'bench',
        policy: { allowForward: new Set(), allowExec: false },
        dial: { tls: false },
        backoff: new Backoff(250, 10_000),
      });
      const onStatus = (status: string) => {
        if (status === 'waiting') retries++;
        if (status === 'connected') {
          agent.off('status', onStatus);
          resolve();
        }
      };
      agent.on('status', onStatus);
      held.push(agent);
      agent.start();
    });
}

async function run(): Promise<void> {
  const open = spec.kind === 'ws' ? openWs : switchboardOpener();
  process.send!({ ready: true });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const startedAt = Date.now();
  const cpuBefore = process.cpuUsage();
  let next = 0;
  const worker = async () => {
    while (next < spec.count) {
      next++;
      await open();
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.count) }, worker));
  const cpu = process.cpuUsage(cpuBefore);
  process.send!({ done: true, startedAt, endedAt: Date.now(), retries, cpuMs: (cpu.user + cpu.system) / 1000 });
}

process.once('SIGTERM', () => process.exit(0));
process.once('disconnect', () => process.exit(0));
void run();
