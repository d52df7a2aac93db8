import type { Duplex } from 'node:stream';

/**
 * Joins two byte streams in both directions. `pipe` gives backpressure (a slow reader pauses the
 * writer, so memory stays at a few high-water marks) and carries EOF as a half-close. When one side
 * is gone for good, the other is torn down at once: after a failure with a TCP reset, so that the
 * next hop of a relayed path fails too instead of waiting half-open. `done` fires exactly once.
 * Returns an abort: tears the splice down as a failure (the client behind it is gone).
 */
export function splice(a: Duplex, b: Duplex, done?: (err?: Error) => void): () => void {
  allowHalfOpen(a);
  allowHalfOpen(b);
  let finished = false;
  const finish = (err?: Error) => {
    if (finished) return;
    finished = true;
    if (err) {
      reset(a);
      reset(b);
    } else {
      a.destroy();
      b.destroy();
    }
    done?.(err);
  };
  a.on('error', finish);
  b.on('error', finish);
  a.once('close', () => closed(a, b));
  b.once('close', () => closed(b, a));
  /**
   * One side is gone. If it went cleanly, having sent its EOF and taken ours, the pipe has just
   * handed its last bytes and its EOF to the other side, which may still be writing them out to a
   * slow reader: destroying it now would cut off the tail of the stream. It is torn down once it
   * has flushed (or fails). A side that went any other way takes the other down at once.
   */
  const closed = (side: Duplex, other: Duplex) => {
    if (!side.readableEnded || !side.writableFinished || other.destroyed || other.writableFinished) return finish();
    other.once('finish', () => finish());
  };
  const abort = () => finish(new Error('session aborted'));
  // A side already gone (a far end reset while its ticket waited for a claim) has had its close:
  // waiting for it would leave the other side open for ever, so the other goes down now.
  if (a.destroyed || b.destroyed) {
    abort();
    return abort;
  }
  a.pipe(b);
  b.pipe(a);
  a.resume();
  b.resume();
  return abort;
}

function reset(stream: Duplex): void {
  const socket = stream as Duplex & { resetAndDestroy?: () => void };
  try {
    if (typeof socket.resetAndDestroy === 'function') return void socket.resetAndDestroy();
  } catch {
    /* not a TCP handle (TLS over a proxy tunnel, say): a plain destroy will do */
  }
  stream.destroy();
}

/** Sockets handed over by an HTTP upgrade default to closing on EOF; a half-close must survive. */
function allowHalfOpen(stream: Duplex): void {
  (stream as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
}
