import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { addKey, runCli, tempDir } from '../test/helpers/harness.js';
import { shippedNodeFlags, startScript, SwitchboardProcess } from './processes.js';

/**
 * The kinds of path a benchmark compares, each against a relay chain with the same number of relay
 * processes between the driver and the service:
 *
 *   switchboard:  driver → control forward → server  → client → service
 *   relay chain:  driver → relay          → relay   → relay  → service
 *
 *   cluster:      driver → control forward → primary → member → client → service
 *   relay chain:  driver → relay          → relay   → relay  → relay  → service
 *
 * In TLS, the hops that Switchboard encrypts (control → server(s) → client) are encrypted in the
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

export async function startRelayChain(
  service: string,
  hops: number,
  tls?: TlsFiles,
  nodeFlags: string[] = [],
): Promise<BenchPath> {
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
  /** With `tls`: the servers run `--tls-only` (no first-byte sniff for plain HTTP on the port). */
  tlsOnly?: boolean;
  /** Node/V8 flags for the switchboard processes, e.g. to compare heap settings (default: bin/switchboard.js's). */
  nodeFlags?: string[];
  /** Environment for the switchboard processes over the shipped one (a variable set to undefined is removed). */
  env?: NodeJS.ProcessEnv;
  /** Appended to the path's name, e.g. "(TLS)". */
  label?: string;
}

/** The flags that make a server serve TLS as `opts` asks (its own self-signed certificate). */
function serverTlsFlags(opts: SwitchboardOptions): string[] {
  return opts.tls ? ['--tls-self-signed', ...(opts.tlsOnly ? ['--tls-only'] : [])] : [];
}

/** "(TLS)", "(TLS, --tls-only)" or nothing: how a path's name tells its TLS mode. */
function tlsLabel(opts: SwitchboardOptions): string {
  return opts.tls ? (opts.tlsOnly ? '(TLS, --tls-only)' : '(TLS)') : '';
}

/**
 * A standalone server, a key, one client allowing the service's port, and one `control forward`
 * to it: real `switchboard` processes with their default logging, as a user runs them.
 */
/** One more `control forward` of a path's client port: its listening address and its pid. */
export async function startForward(
  path: Pick<SwitchboardPath, 'server' | 'key' | 'clientName' | 'dialFlags'>,
  servicePort: number | string,
  flags = shippedNodeFlags(),
  env?: NodeJS.ProcessEnv,
): Promise<{ address: string; pid: number }> {
  const forward = new SwitchboardProcess(
    [
      'control',
      '--gateway',
      path.server,
      `--key=${path.key}`,
      ...path.dialFlags,
      'forward',
      path.clientName,
      `127.0.0.1:0:${servicePort}`,
    ],
    flags,
    env,
  );
  const line = await forward.waitForLine((l) => l.msg === 'forwarding', 'control forward listening');
  return { address: line.listen as string, pid: forward.child.pid! };
}

export async function startSwitchboard(service: string, opts: SwitchboardOptions): Promise<SwitchboardPath> {
  const dir = tempDir('sb-bench-');
  process.once('exit', () => dir.remove());
  const data = join(dir.path, 'data');
  const flags = opts.nodeFlags ?? shippedNodeFlags();
  const server = new SwitchboardProcess(
    ['server', '--data', data, '--listen', '127.0.0.1:0', ...serverTlsFlags(opts)],
    flags,
    opts.env,
  );
  const listening = await server.waitForLine((l) => l.msg === 'listening', 'the server listening');
  const address = listening.address as string;
  const tls: TlsFiles | undefined = opts.tls
    ? { cert: join(data, 'tls-cert.pem'), key: join(data, 'tls-key.pem'), fingerprint: listening.fingerprint as string }
    : undefined;
  const dialFlags = tls ? ['--tls-fingerprint', tls.fingerprint] : [];
  const key = await addKey(data, 'bench');
  const servicePort = service.slice(service.lastIndexOf(':') + 1);
  const clientName = `bench-${Math.random().toString(36).slice(2, 8)}`;
  const client = new SwitchboardProcess(
    [
      'client',
      '--gateway',
      address,
      `--key=${key}`,
      '--name',
      clientName,
      '--state',
      join(dir.path, 'client'),
      '--allow-forward',
      servicePort,
      ...dialFlags,
    ],
    flags,
    opts.env,
  );
  await client.waitForLine((l) => l.status === 'connected', 'the client connected');
  const forward = await startForward({ server: address, key, clientName, dialFlags }, servicePort, flags, opts.env);
  const label = opts.label ?? tlsLabel(opts);
  return {
    name: `switchboard${label ? ' ' + label : ''}`,
    address: forward.address,
    pids: [forward.pid, server.child.pid!, client.child.pid!],
    server: address,
    key,
    clientName,
    tls,
    dialFlags,
  };
}

/** Whether a TCP port can be bound on every given address right now. */
async function freeOnAll(hosts: string[], port: number): Promise<boolean> {
  for (const host of hosts) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

/**
 * Bench clusters live on 127.0.90.x (no test file uses that /24; the failover benchmark uses
 * 127.0.70.x), one pair of addresses per cluster started in this run, all on one fixed port as in
 * production; the next ports are tried if another process holds it.
 */
const CLUSTER_PORT = 29500;
let clustersStarted = 0;

/**
 * A primary and one member, a key, one client allowing the service's port, and one
 * `control forward` through the primary: the primary's own weight is 0, so it places the client on
 * the member, and every session is brokered primary → member. Checked with `control browse --json`
 * (the client's `server` column must be the member) before the path is used.
 *
 * In TLS both servers serve the same self-signed certificate (the primary's), as a cluster behind
 * one certificate would; controls, the client and the member pin its fingerprint, and the primary
 * pins it when it dials the member's data connection (the member announces it when it joins).
 */
export async function startSwitchboardCluster(
  service: string,
  opts: SwitchboardOptions,
): Promise<SwitchboardPath & { member: string }> {
  const dir = tempDir('sb-bench-cluster-');
  process.once('exit', () => dir.remove());
  const flags = opts.nodeFlags ?? shippedNodeFlags();
  const slot = clustersStarted++;
  const hosts = [`127.0.90.${10 * slot + 1}`, `127.0.90.${10 * slot + 2}`];
  let port = CLUSTER_PORT;
  while (!(await freeOnAll(hosts, port)))
    if (++port > CLUSTER_PORT + 100) throw new Error(`no free port on ${hosts.join(', ')}`);
  const [primaryAddress, memberAddress] = hosts.map((h) => `${h}:${port}`) as [string, string];

  const p = join(dir.path, 'primary');
  const secretFile = join(dir.path, 'cluster.secret');
  writeFileSync(secretFile, `bench-cluster-secret-${Math.random().toString(36).slice(2)}-0123456789\n`, {
    mode: 0o600,
  });
  const key = await addKey(p, 'bench');
  for (const args of [
    ['set', 'primary-weight', '0'],
    ['server', 'add', memberAddress, '--weight', '1000'],
  ]) {
    const r = await runCli(['config', '--data', p, ...args]);
    if (r.code !== 0) throw new Error(`config ${args.join(' ')}: ${r.stderr}`);
  }

  const clusterFlags = ['--cluster-secret-file', secretFile];
  const primary = new SwitchboardProcess(
    [
      'server',
      '--data',
      p,
      '--role',
      'primary',
      '--listen',
      primaryAddress,
      '--advertise',
      primaryAddress,
      ...clusterFlags,
      ...serverTlsFlags(opts),
    ],
    flags,
    opts.env,
  );
  const listening = await primary.waitForLine((l) => l.msg === 'listening', 'the primary listening');
  const tls: TlsFiles | undefined = opts.tls
    ? { cert: join(p, 'tls-cert.pem'), key: join(p, 'tls-key.pem'), fingerprint: listening.fingerprint as string }
    : undefined;
  const dialFlags = tls ? ['--tls-fingerprint', tls.fingerprint] : [];
  const memberTls = tls
    ? [
        '--tls-cert',
        tls.cert,
        '--tls-key',
        tls.key,
        '--primary-fingerprint',
        tls.fingerprint,
        ...(opts.tlsOnly ? ['--tls-only'] : []),
      ]
    : [];
  const member = new SwitchboardProcess(
    [
      'server',
      '--data',
      join(dir.path, 'member'),
      '--role',
      'member',
      '--primary',
      `${tls ? 'https://' : ''}${primaryAddress}`,
      '--listen',
      memberAddress,
      '--advertise',
      memberAddress,
      ...clusterFlags,
      ...memberTls,
    ],
    flags,
  );
  await member.waitForLine((l) => l.msg === 'configuration replicated', 'the member linked and replicated', 60_000);

  const servicePort = service.slice(service.lastIndexOf(':') + 1);
  const clientName = `bench-${Math.random().toString(36).slice(2, 8)}`;
  const client = new SwitchboardProcess(
    [
      'client',
      '--gateway',
      primaryAddress,
      `--key=${key}`,
      '--name',
      clientName,
      '--state',
      join(dir.path, 'client'),
      '--allow-forward',
      servicePort,
      ...dialFlags,
    ],
    flags,
    opts.env,
  );
  await client.waitForLine((l) => l.status === 'connected', 'the client connected');
  const browse = await runCli([
    'control',
    '--gateway',
    primaryAddress,
    `--key=${key}`,
    ...dialFlags,
    'browse',
    '--json',
  ]);
  const placed = (JSON.parse(browse.stdout || '[]') as { name: string; server: string }[]).find(
    (c) => c.name === clientName,
  );
  if (placed?.server !== memberAddress)
    throw new Error(
      `the bench client is on ${placed?.server ?? 'no server'}, not on the member ${memberAddress}: ${browse.stdout}${browse.stderr}`,
    );

  const forward = new SwitchboardProcess(
    [
      'control',
      '--gateway',
      primaryAddress,
      `--key=${key}`,
      ...dialFlags,
      'forward',
      clientName,
      `127.0.0.1:0:${servicePort}`,
    ],
    flags,
    opts.env,
  );
  const line = await forward.waitForLine((l) => l.msg === 'forwarding', 'control forward listening');
  const label = opts.label ?? tlsLabel(opts);
  return {
    name: `switchboard cluster${label ? ' ' + label : ''}`,
    address: line.listen as string,
    pids: [forward.child.pid!, primary.child.pid!, member.child.pid!, client.child.pid!],
    server: primaryAddress,
    member: memberAddress,
    key,
    clientName,
    tls,
    dialFlags,
  };
}
