import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { splice } from '../net/splice.js';
import { loopbackPeerGone } from './peerGone.js';

/** What a local connection may send before its session is up; past it, it waits (backpressure). */
export const MAX_EARLY_BYTES = 64 * 1024;

/**
 * How long a new local connection that has sent nothing is watched for a close before its session
 * is opened. One that speaks first (HTTP, TLS, SSH, iperf3) goes on at its first byte; only a
 * silent one (a server-speaks-first protocol: SMTP, MySQL, VNC) waits this long, once, and every
 * one of its setups pays it (it was 25 ms: a session setup took 5 times as long as without it).
 * A probe closes within a fraction of a millisecond of its connect (0.2 ms median, 3.7 ms at the
 * 99th percentile of 200 on this 2-CPU machine at load 6); a close already there when the window
 * ends is always seen, however late the timer fires (see settle).
 */
export const EARLY_CLOSE_WINDOW_MS = 5;

/**
 * A local connection waiting for its session. It is read meanwhile (up to MAX_EARLY_BYTES), so
 * that one which is gone before its session is set up (reset, or closed with nothing sent: a port
 * probe, a quick connect-and-close) is seen as gone and never reaches the service, which would
 * otherwise get a connection nobody is behind. An EOF is only a half-close when the peer still holds
 * its socket (a download that sends nothing, `nc < /dev/null`): that is carried, as is an EOF after
 * some bytes. Bytes read early are sent first once the session is up.
 */
export class HeldLocal {
  private readonly early: Buffer[] = [];
  private earlyBytes = 0;
  private ended = false;
  /** The EOF came with nothing sent, and the peer has closed for good (not half-closed). */
  private closedSilent = false;
  private failed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.on('error', this.onError);
    socket.resume();
  }

  private readonly onData = (chunk: Buffer) => {
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes >= MAX_EARLY_BYTES) this.socket.pause();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.closedSilent = this.earlyBytes === 0 && loopbackPeerGone(this.socket);
  };

  private readonly onError = () => {
    this.failed = true;
    this.socket.destroy();
  };

  /** Gone before its session: the session is not opened, or is closed at once without a byte. */
  get gone(): boolean {
    return this.failed || this.socket.destroyed || this.closedSilent;
  }

  /**
   * Resolves once the connection has shown whether it is there: its first bytes, its end, a close
   * or an error, or EARLY_CLOSE_WINDOW_MS of silence. The window ends one poll of the sockets after
   * its timer: timers run before the poll in an event-loop turn, so on a busy machine the timer
   * could fire before a close that came in the meantime is read; setImmediate runs after it.
   */
  settle(): Promise<void> {
    if (this.earlyBytes > 0 || this.ended || this.gone) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.off('data', done);
        this.socket.off('end', done);
        this.socket.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => setImmediate(done), EARLY_CLOSE_WINDOW_MS);
      // Added after HeldLocal's own listeners, so the state is up to date when these run.
      this.socket.once('data', done);
      this.socket.once('end', done);
      this.socket.once('close', done);
    });
  }

  /** Joins the local connection to its session: what it sent early first, then both ways. */
  attach(remote: Duplex): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.pause();
    for (const chunk of this.early) remote.write(chunk);
    this.early.length = 0;
    // splice pipes the local side; one that has ended already hands its EOF on at once.
    splice(this.socket, remote);
  }

  /** Drops the connection (its session could not be opened, or it is gone). */
  drop(): void {
    this.socket.destroy();
  }
}
