import { join } from 'node:path';
import { addKey, tempDir } from '../test/helpers/harness.js';
import { startScript, SwitchboardProcess } from './processes.js';

/**
 * The two kinds of path a benchmark compares, each with the same number of relay processes
 * between the driver and the service:
 *
 *   switchboard:  driver → control forward → server → client → service
 *   relay chain:  driver → relay          → relay  → relay  → service
 *
 * In TLS, the hops that Switchboard encrypts (control → server → client) are encrypted in the
 * chain too, with the same certificate; the first and last hop stay plain in both.
 */
export interface BenchPath {
  /** e.g. "switchboard" or "relay chain" */
  name: string;
  /** Where the driver connects. */
  address: string;
  /** Process ids of the relaying processes, in order from the driver. */
  pids: number[];
}

/** One comparison: subjects (Switchboard paths) measured against a baseline in the same run. */
export interface BenchCase {
  label: string;
  baseline: BenchPath;
  subjects: BenchPath[];
}

export interface TlsFiles {
  cert: string;
  key: string;
  fingerprint: string;
}

export async function startRelayChain(service: string, hops: number, tls?: TlsFiles, nodeFlags: string[] = []): Promise<BenchPath> {
  let target = service;
  const pids: number[] = [];
  // Built from the service outwards: the last relay dials the service in plain TCP.
  for (let i = hops - 1; i >= 0; i--) {
    const args = ['--target', target];
    if (tls && i > 0) args.push('--tls-in', `${tls.cert},${tls.key}`);
    if (tls && i < hops - 1) args.push('--tls-out', tls.cert);
    const relay = await startScript('relay.js', args, nodeFlags);
    pids.unshift(relay.child.pid!);
    target = relay.address;
  }
  return { name: tls ? 'relay chain (TLS)' : 'relay chain', address: target, pids };
}

export interface SwitchboardPath extends BenchPath {
  /** The server's address, for controls the benchmark drives itself. */
  server: string;
  key: string;
  clientName: string;
  tls?: TlsFiles;
  /** Flags a control needs to reach the server. */
  dialFlags: string[];
}

export interface SwitchboardOptions {
  tls: boolean;
  /** Node/V8 flags for the three switchboard processes, e.g. to compare heap settings. */
  nodeFlags?: string[];
  /** Appended to the path's name, e.g. "(TLS)". */
  label?: string;
}

/**
 * A standalone server, a key, one client allowing the service's port, and one `control forward`
 * to it: real `switchboard` processes with their default logging, as a user runs them.
 */
export async function startSwitchboard(service: string, opts: SwitchboardOptions): Promise<SwitchboardPath> {
  const dir = tempDir('sb-bench-');
  process.once('exit', () => dir.remove());
  const data = join(dir.path, 'data');
  const flags = opts.nodeFlags ?? [];
  const server = new SwitchboardProcess(['server', '--data', data, '--listen', '127.0.0.1:0', ...(opts.tls ? ['--tls-self-signed'] : [])], flags);
  const listening = await server.waitForLine((l) => l.msg === 'listening', 'the server listening');
  const address = listening.address as string;
  const tls: TlsFiles | undefined = opts.tls
    ? { cert: join(data, 'tls-cert.pem'), key: join(data, 'tls-key.pem'), fingerprint: listening.fingerprint as string }
    : undefined;
  const dialFlags = tls ? ['--tls-fingerprint', tls.fingerprint] : [];
  const key = await addKey(data, 'bench');
  const servicePort = service.slice(service.lastIndexOf(':') + 1);
  const clientName = `bench-${Math.random().toString(36).slice(2, 8)}`;
  const client = new SwitchboardProcess(['client', '--gateway', address, `--key=${key}`, '--name', clientName, '--state', join(dir.path, 'client'), '--allow-forward', servicePort, ...dialFlags], flags);
  await client.waitForLine((l) => l.status === 'connected', 'the client connected');
  const forward = new SwitchboardProcess(['control', '--gateway', address, `--key=${key}`, ...dialFlags, 'forward', clientName, `127.0.0.1:0:${servicePort}`], flags);
  const line = await forward.waitForLine((l) => l.msg === 'forwarding', 'control forward listening');
  const label = opts.label ?? (opts.tls ? '(TLS)' : '');
  return {
    name: `switchboard${label ? ' ' + label : ''}`,
    address: line.listen as string,
    pids: [forward.child.pid!, server.child.pid!, client.child.pid!],
    server: address,
    key,
    clientName,
    tls,
    dialFlags,
  };
}
