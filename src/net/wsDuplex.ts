import { Duplex } from 'node:stream';
import type WebSocket from 'ws';

/** Past this much unsent on the WebSocket, writes wait for it to drain (the far end then pauses). */
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * A WebSocket as a byte stream, so that it can be spliced like any data connection: each binary
 * message is a chunk, each write a binary message. It counts bytes both ways (`bytesRead`,
 * `bytesWritten`, as a net.Socket does), so a relay can audit what a browser sent and received.
 * Text messages are not part of the stream and are ignored. The end of the stream closes the
 * WebSocket normally; a WebSocket that closes ends the stream.
 */
export class WebSocketDuplex extends Duplex {
  bytesRead = 0;
  bytesWritten = 0;

  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: false });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      this.bytesRead += chunk.length;
      if (!this.push(chunk)) ws.pause();
    });
    ws.once('close', () => {
      this.push(null);
      if (!this.writableFinished) this.destroy();
    });
    ws.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return callback(new Error('the WebSocket is closed'));
    this.bytesWritten += chunk.length;
    const waitForSend = this.ws.bufferedAmount > HIGH_WATER_BYTES;
    this.ws.send(chunk, { binary: true }, (err) => {
      if (waitForSend) callback(err);
    });
    if (!waitForSend) callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000, 'session ended');
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      if (err) this.ws.terminate();
      else this.ws.close(1000, 'session ended');
    }
    callback(err);
  }
}
