import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Whether the peer of a loopback connection has closed its socket for good, rather than only
 * half-closed it. Both send the same FIN, and a relay cannot ask without writing to it; but on
 * loopback the peer's socket is in this machine's table: one closed by its process is orphaned
 * (inode 0) or gone, one half-closed is still some process's. Linux only; elsewhere, or for a peer
 * on another machine, the answer is false (the EOF is taken as a half-close, and carried).
 */
export function loopbackPeerGone(socket: net.Socket): boolean {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (process.platform !== 'linux' || !remoteAddress || !remotePort || !localAddress || !localPort) return false;
  if (!isLoopback(remoteAddress)) return false;
  const tables = [readTable('/proc/net/tcp'), readTable('/proc/net/tcp6')];
  if (tables.every((t) => t === undefined)) return false;
  const want = { local: [remoteAddress, remotePort] as const, remote: [localAddress, localPort] as const };
  for (const table of tables) {
    const inode = table && peerInode(table, want.local, want.remote);
    if (inode !== undefined) return inode === '0';
  }
  return true; // not in the table any more: gone
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function readTable(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/** The inode of the socket whose local and remote ends are these, in a /proc/net/tcp* text (pure). */
export function peerInode(
  table: string,
  local: readonly [string, number],
  remote: readonly [string, number],
): string | undefined {
  const l = procAddress(local[0], local[1]);
  const r = procAddress(remote[0], remote[1]);
  for (const line of table.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === undefined || cols[9] === undefined) continue;
    if (l.includes(cols[1]) && r.includes(cols[2]!)) return cols[9];
  }
  return undefined;
}

/** The ways /proc/net/tcp and tcp6 spell an address and port (each 32-bit word in host order). */
function procAddress(address: string, port: number): string[] {
  const p = port.toString(16).toUpperCase().padStart(4, '0');
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  const spellings: string[] = [];
  if (net.isIPv4(v4)) {
    const bytes = v4.split('.').map(Number);
    spellings.push(`${word(bytes)}:${p}`);
    // The same address as an IPv4-mapped IPv6 one (a dual-stack socket).
    spellings.push(`${word([0, 0, 0, 0])}${word([0, 0, 0, 0])}${word([0, 0, 0xff, 0xff])}${word(bytes)}:${p}`);
  } else if (address === '::1') {
    spellings.push(`${word([0, 0, 0, 0])}${word([0, 0, 0, 0])}${word([0, 0, 0, 0])}${word([0, 0, 0, 1])}:${p}`);
  }
  return spellings;
}

/** Four bytes in network order as /proc prints a 32-bit word on a little-endian machine. */
function word(bytes: number[]): string {
  return Buffer.from(bytes).readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0');
}
