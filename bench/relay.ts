import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

/**
 * The baseline: one plain Node TCP relay per process, the simplest correct relay one would write
 * (`pipe` both ways, half-close carried, both sides torn down together). It deliberately shares no
 * code with Switchboard, so a change in Switchboard's splice cannot move the baseline.
 *
 * Usage: node dist/bench/relay.js --target HOST:PORT [--tls-in CERT,KEY] [--tls-out CA]
 *   --tls-in   accept TLS with this certificate and key (PEM files)
 *   --tls-out  dial the target in TLS, trusting this CA (PEM file)
 * Prints {"msg":"listening","address":"127.0.0.1:PORT"}.
 */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

const target = arg('--target');
if (!target) throw new Error('--target HOST:PORT is required');
const colon = target.lastIndexOf(':');
const host = target.slice(0, colon);
const port = Number(target.slice(colon + 1));
const tlsIn = arg('--tls-in')?.split(',');
const tlsOutCa = arg('--tls-out');
const ca = tlsOutCa ? readFileSync(tlsOutCa) : undefined;

function relay(inbound: net.Socket): void {
  inbound.setNoDelay(true);
  const outbound: net.Socket = ca ? tls.connect({ host, port, ca }) : net.connect({ host, port, allowHalfOpen: true });
  // A half-close (EOF one way, bytes still flowing the other) must survive every hop.
  inbound.allowHalfOpen = true;
  outbound.allowHalfOpen = true;
  outbound.setNoDelay(true);
  const close = () => {
    inbound.destroy();
    outbound.destroy();
  };
  for (const s of [inbound, outbound]) {
    s.on('error', close);
    s.once('close', close);
  }
  inbound.pipe(outbound);
  outbound.pipe(inbound);
}

const server = tlsIn
  ? tls.createServer({ cert: readFileSync(tlsIn[0]!), key: readFileSync(tlsIn[1]!), allowHalfOpen: true }, relay)
  : net.createServer({ allowHalfOpen: true }, relay);

server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ msg: 'listening', address: `${a.address}:${a.port}` }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
