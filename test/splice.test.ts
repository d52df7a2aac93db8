/**
 * The relay splice, on in-memory streams: what one side sends arrives whole at the other even when
 * the side it came from has closed completely while the other is still writing out to a slow reader.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { splice } from '../src/net/splice.js';

/** A side whose peer reads slowly: each chunk written takes a millisecond to go out. */
function slowReaderSide(): Duplex & { delivered: number } {
  const side = new Duplex({
    highWaterMark: 16 * 1024,
    read() {},
    write(chunk: Buffer, _enc, callback) {
      setTimeout(() => {
        side.delivered += chunk.length;
        callback();
      }, 1);
    },
  }) as Duplex & { delivered: number };
  side.delivered = 0;
  return side;
}

/** A side that sends `total` bytes and its EOF, and accepts (and drops) whatever comes to it. */
function senderSide(total: number): Duplex {
  const block = Buffer.alloc(8 * 1024, 7);
  let sent = 0;
  return new Duplex({
    read() {
      if (sent >= total) return void this.push(null);
      sent += block.length;
      this.push(block);
    },
    write(_chunk, _enc, callback) {
      callback();
    },
  });
}

test('splice: a side that closes completely (EOF both ways) does not cut off what the other side still has to write out', async () => {
  const total = 1024 * 1024;
  const near = slowReaderSide();
  const far = senderSide(total);
  const done = new Promise<Error | undefined>((resolve) => splice(near, far, resolve));
  // The near peer has nothing to send: its EOF goes first, so the far side closes as soon as its
  // own last byte is handed over, long before the slow near side has written it all out.
  near.push(null);
  assert.equal(await done, undefined, 'finished cleanly');
  assert.equal(near.delivered, total, 'every byte went out before the splice was torn down');
});

test('splice: a side that fails takes the other down at once', async () => {
  const near = slowReaderSide();
  const far = senderSide(64 * 1024 * 1024);
  const done = new Promise<Error | undefined>((resolve) => splice(near, far, resolve));
  const closed = once(near, 'close');
  far.destroy(new Error('connection reset'));
  assert.match(String(await done), /connection reset/);
  await closed;
  assert.ok(near.destroyed);
});

test('a side that is gone before the splice (reset while its ticket waited) takes the other down at once', async () => {
  // Issue 14: a far end reset while unclaimed had had its close already; the near end waited for ever.
  const gone = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  gone.destroy();
  await once(gone, 'close');
  const other = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  let doneWith: Error | undefined;
  splice(other, gone, (err) => (doneWith = err));
  assert.equal(other.destroyed, true);
  assert.ok(doneWith, 'the splice ends as a failure');
});
