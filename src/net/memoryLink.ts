import { Duplex } from 'node:stream';
import type { Link } from './link.js';

/**
 * Two Links joined in memory, as a WebSocket joins them between processes: what one end sends the
 * other receives, as JSON text and in a later turn of the event loop (never inside `send`); a close
 * at either end reaches both. The cluster roles run over it in one process (test/roles-inmemory.test.ts).
 */
export function memoryLinkPair(
  aAddress: string,
  bAddress: string,
  binding = '',
): [a: Link & { readonly closed: boolean }, b: Link & { readonly closed: boolean }] {
  const a = new MemoryEnd(bAddress, binding);
  const b = new MemoryEnd(aAddress, binding);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryEnd implements Link {
  peer!: MemoryEnd;
  closed = false;
  private readonly messageHandlers: ((data: unknown) => void)[] = [];
  private readonly closeHandlers: ((code: number, reason: string) => void)[] = [];

  constructor(
    readonly remoteAddress: string,
    private readonly binding: string,
  ) {}

  send(message: object): void {
    if (this.closed) return;
    const text = JSON.stringify(message);
    const peer = this.peer;
    setImmediate(() => {
      for (const handler of peer.messageHandlers) handler(Buffer.from(text));
    });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.peer.closed = true;
    // Messages already sent arrive first, as on a socket: the close goes out behind them.
    setImmediate(() => {
      for (const end of [this, this.peer]) for (const handler of end.closeHandlers) handler(code, reason);
    });
  }

  onMessage(handler: (data: unknown) => void): void {
    this.messageHandlers.push(handler);
  }

  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandlers.push(handler);
  }

  channelBinding(): string {
    return this.binding;
  }
}

/**
 * Two byte streams joined in memory, as a TCP connection joins its ends: what one writes the
 * other reads, an end() is the other's EOF, and a destroy takes both down. A session's data
 * connections in one process.
 */
export function memoryStreamPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (other: () => Duplex) =>
    new Duplex({
      allowHalfOpen: true,
      read() {},
      write(chunk: Buffer, _encoding, done) {
        other().push(chunk);
        done();
      },
      final(done) {
        other().push(null);
        done();
      },
      destroy(err, done) {
        const peer = other();
        if (!peer.destroyed) setImmediate(() => peer.destroy());
        done(err);
      },
    });
  ends.push(
    make(() => ends[1]!),
    make(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}
