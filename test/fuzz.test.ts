/**
 * Property tests (fast-check) for everything that parses bytes from the network or the command
 * line: the message decoder, the exec frame decoders and HOST:PORT. They never throw out of their
 * module, and what is encoded comes back out unchanged however the stream is split.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { z } from 'zod';
import { formatHostPort, parseHostPort } from '../src/net/address.js';
import {
  encodeExecFrame,
  encodeExit,
  encodeStdin,
  encodeStdinEnd,
  ExecChannel,
  ExecFrameDecoder,
  ExecInputDecoder,
  MAX_EXEC_FRAME,
  type ExecFrame,
} from '../src/protocol/execFrames.js';
import {
  ClientToServer,
  ControlToServer,
  decode,
  MAX_MESSAGE_BYTES,
  ServerToClient,
  ServerToControl,
  type Decoded,
} from '../src/protocol/messages.js';

const RUNS = { numRuns: 300 };
const schemas: Record<string, z.ZodType<unknown>> = {
  ClientToServer,
  ServerToClient,
  ControlToServer,
  ServerToControl,
};

function isDecoded(result: Decoded<unknown>): boolean {
  return result.ok ? 'value' in result : typeof result.error === 'string' && result.error.length > 0;
}

/** Splits a buffer at the given cut points (each taken modulo the length). */
function splitAt(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (data.length ? c % (data.length + 1) : 0)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(data.subarray(at, p));
    at = p;
  }
  parts.push(data.subarray(at));
  return parts;
}

// ---- decode ----------------------------------------------------------------------------------------

/** Messages that are almost right: real message shapes with fields swapped for anything at all. */
const nearMessage = fc.record(
  {
    type: fc.constantFrom(
      'hello',
      'login',
      'request',
      'session-refused',
      'challenge',
      'welcome',
      'redirect',
      'reconnect',
      'session',
      'ready',
      'response',
      'x',
    ),
    version: fc.oneof(fc.constant(1), fc.anything()),
    id: fc.oneof(fc.string(), fc.anything()),
    req: fc.oneof(fc.integer(), fc.anything()),
    method: fc.oneof(fc.constantFrom('browse', 'servers', 'open'), fc.string()),
    params: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.anything()),
    target: fc.oneof(
      fc.record({ kind: fc.constantFrom('forward', 'exec'), port: fc.integer(), command: fc.array(fc.string()) }),
      fc.anything(),
    ),
    allowForward: fc.oneof(fc.array(fc.integer()), fc.anything()),
    nonce: fc.string(),
    __proto__: fc.anything(),
  },
  { requiredKeys: [] },
);

for (const [name, schema] of Object.entries(schemas)) {
  test(`decode(${name}) never throws for arbitrary text, JSON, buffers and values`, () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => isDecoded(decode(schema, s))),
      RUNS,
    );
    fc.assert(
      fc.property(fc.json({ maxDepth: 6 }), (s) => isDecoded(decode(schema, s))),
      RUNS,
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => isDecoded(decode(schema, JSON.stringify(v) ?? 'null'))),
      RUNS,
    );
    fc.assert(
      fc.property(nearMessage, (m) =>
        isDecoded(
          decode(schema, JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? ''),
        ),
      ),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => isDecoded(decode(schema, Buffer.from(b)))),
      RUNS,
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 6 }), (parts) =>
        isDecoded(
          decode(
            schema,
            parts.map((p) => Buffer.from(p)),
          ),
        ),
      ),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => isDecoded(decode(schema, new Uint8Array(b).buffer))),
      RUNS,
    );
    // Whatever a caller hands it: numbers, objects, arrays of anything, undefined.
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withDate: true,
          withNullPrototype: true,
        }),
        (v) => isDecoded(decode(schema, v)),
      ),
      RUNS,
    );
    fc.assert(
      fc.property(fc.array(fc.anything(), { minLength: 1, maxLength: 4 }), (v) => isDecoded(decode(schema, v))),
      RUNS,
    );
  });
}

test('decode: deeply nested JSON and oversized text are refused, not thrown', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  for (const schema of Object.values(schemas)) {
    assert.equal(decode(schema, deep).ok, false);
    assert.equal(decode(schema, `{"type":"hello","pad":"${'x'.repeat(MAX_MESSAGE_BYTES)}"}`).ok, false);
    const nested = JSON.stringify({
      type: 'request',
      req: 1,
      method: 'browse',
      params: JSON.parse('{"a":'.repeat(2000) + '1' + '}'.repeat(2000)) as unknown,
    });
    assert.ok(isDecoded(decode(schema, nested)));
  }
});

test('decode: a valid hello or request always decodes to itself', () => {
  const label = fc.string({ maxLength: 40 });
  const hello = fc.record(
    {
      type: fc.constant('hello' as const),
      version: fc.constant(1 as const),
      id: fc.stringMatching(/^[A-Za-z0-9._:@-]{1,60}$/),
      name: fc.string({ minLength: 1, maxLength: 40 }),
      group: label,
      platform: label,
      proof: fc.base64String({ maxLength: 60 }),
      publicKey: fc.base64String({ maxLength: 44 }),
      signature: fc.base64String({ maxLength: 88 }),
      allowForward: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 20 }),
      allowExec: fc.boolean(),
    },
    { noNullPrototype: true },
  );
  fc.assert(
    fc.property(hello, (h) => {
      const decoded = decode(ClientToServer, JSON.stringify(h));
      assert.ok(decoded.ok, !decoded.ok ? decoded.error : '');
      assert.deepEqual(decoded.value, h);
    }),
    RUNS,
  );
  const request = fc.record(
    {
      type: fc.constant('request' as const),
      req: fc.nat(),
      method: fc.constantFrom('browse' as const, 'servers' as const, 'open' as const),
      // `__proto__` is the one key that does not survive: see the assertion below.
      params: fc.dictionary(
        fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__'),
        fc.jsonValue({ maxDepth: 2 }),
      ),
    },
    { noNullPrototype: true },
  );
  fc.assert(
    fc.property(request, (r) => {
      const decoded = decode(ControlToServer, JSON.stringify(r));
      assert.ok(decoded.ok, !decoded.ok ? decoded.error : '');
      assert.deepEqual(JSON.parse(JSON.stringify(decoded.value)), JSON.parse(JSON.stringify(r)));
    }),
    RUNS,
  );
  // A `__proto__` parameter is dropped by the decoder, never turned into the object's prototype.
  const polluted = decode(
    ControlToServer,
    '{"type":"request","req":1,"method":"browse","params":{"__proto__":{"admin":true},"group":"g"}}',
  );
  assert.ok(polluted.ok);
  const params = (polluted.value as { params: Record<string, unknown> }).params;
  assert.deepEqual(Object.keys(params), ['group']);
  assert.equal((params as { admin?: unknown }).admin, undefined);
  assert.equal(({} as { admin?: unknown }).admin, undefined);
});

// ---- exec frames -------------------------------------------------------------------------------------

test('ExecFrameDecoder never throws, whatever bytes arrive in whatever pieces', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
      const decoder = new ExecFrameDecoder();
      for (const c of chunks) {
        const frames = decoder.push(Buffer.from(c));
        assert.ok(Array.isArray(frames));
      }
      if (decoder.error)
        assert.deepEqual(decoder.push(Buffer.from([1, 0, 0, 0, 0])), [], 'a failed decoder stays failed');
    }),
    { numRuns: 1000 },
  );
  // Frames with valid headers and arbitrary payloads, including the exit channel.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 100 }), (channel, payload) => {
      const decoder = new ExecFrameDecoder();
      const header = Buffer.alloc(5);
      header.writeUInt8(channel, 0);
      header.writeUInt32BE(payload.length, 1);
      decoder.push(Buffer.concat([header, Buffer.from(payload)]));
    }),
    { numRuns: 1000 },
  );
  const exitPayload = fc.oneof(
    fc.json(),
    fc.string(),
    fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
  );
  fc.assert(
    fc.property(exitPayload, (text) => {
      const decoder = new ExecFrameDecoder();
      const frames = decoder.push(encodeExecFrame(ExecChannel.exit, Buffer.from(text)));
      for (const f of frames)
        if (f.channel === ExecChannel.exit) assert.ok(f.exit.code === null || Number.isInteger(f.exit.code));
    }),
    RUNS,
  );
});

test('ExecFrameDecoder round-trips encodeExecFrame for any split of the stream', () => {
  const output = fc.record(
    { channel: fc.constantFrom(ExecChannel.stdout, ExecChannel.stderr), data: fc.uint8Array({ maxLength: 300 }) },
    { noNullPrototype: true },
  );
  const exit = fc.record(
    {
      code: fc.oneof(fc.constant(null), fc.integer({ min: -255, max: 255 })),
      signal: fc.oneof(fc.constant(null), fc.constantFrom('SIGTERM', 'SIGKILL', 'SIGINT')),
    },
    { noNullPrototype: true },
  );
  fc.assert(
    fc.property(
      fc.array(output, { maxLength: 15 }),
      exit,
      fc.array(fc.nat(), { maxLength: 25 }),
      (outputs, status, cuts) => {
        const stream = Buffer.concat([
          ...outputs.map((o) => encodeExecFrame(o.channel, Buffer.from(o.data))),
          encodeExit(status),
        ]);
        const decoder = new ExecFrameDecoder();
        const frames: ExecFrame[] = [];
        for (const part of splitAt(stream, cuts)) frames.push(...decoder.push(part));
        assert.equal(decoder.error, undefined);
        assert.equal(decoder.pending, 0);
        assert.deepEqual(frames, [
          ...outputs.map((o) => ({ channel: o.channel, data: Buffer.from(o.data) })),
          { channel: ExecChannel.exit, exit: status },
        ]);
      },
    ),
    { numRuns: 500 },
  );
});

test('ExecFrameDecoder refuses an unknown channel or an oversized frame without throwing', () => {
  const bad = new ExecFrameDecoder();
  assert.deepEqual(bad.push(Buffer.from([9, 0, 0, 0, 0])), []);
  assert.match(bad.error ?? '', /unknown exec channel 9/);
  const big = new ExecFrameDecoder();
  const header = Buffer.alloc(5);
  header.writeUInt8(ExecChannel.stdout, 0);
  header.writeUInt32BE(MAX_EXEC_FRAME + 1, 1);
  big.push(header);
  assert.match(big.error ?? '', /over the limit/);
  // Frames before the bad one are still delivered.
  const mixed = new ExecFrameDecoder();
  const frames = mixed.push(
    Buffer.concat([encodeExecFrame(ExecChannel.stdout, Buffer.from('ok')), Buffer.from([7, 0, 0, 0, 0])]),
  );
  assert.deepEqual(frames, [{ channel: ExecChannel.stdout, data: Buffer.from('ok') }]);
  assert.ok(mixed.error);
});

test('ExecInputDecoder never throws and round-trips stdin of any size, split anywhere', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
      const decoder = new ExecInputDecoder();
      for (const c of chunks) decoder.push(Buffer.from(c));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (inputs, cuts) => {
        const stream = Buffer.concat([...inputs.map((i) => encodeStdin(Buffer.from(i))), encodeStdinEnd()]);
        const decoder = new ExecInputDecoder();
        const data: Buffer[] = [];
        let ended = 0;
        for (const part of splitAt(stream, cuts)) {
          for (const f of decoder.push(part)) {
            if (f.end) ended++;
            else data.push(f.data);
          }
        }
        assert.equal(decoder.error, undefined);
        assert.equal(ended, 1);
        assert.deepEqual(Buffer.concat(data), Buffer.concat(inputs.map((i) => Buffer.from(i))));
      },
    ),
    RUNS,
  );
  // A chunk larger than one stdin frame is split into several and comes back whole.
  const large = Buffer.alloc(200_000, 3);
  const decoder = new ExecInputDecoder();
  const frames = decoder.push(encodeStdin(large));
  assert.ok(frames.length > 1);
  assert.deepEqual(Buffer.concat(frames.map((f) => (f.end ? Buffer.alloc(0) : f.data))), large);
});

// ---- HOST:PORT -----------------------------------------------------------------------------------------

test('parseHostPort round-trips formatHostPort for names, IPv4 and IPv6', () => {
  const host = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6());
  const port = fc.integer({ min: 0, max: 65535 });
  fc.assert(
    fc.property(host, port, (h, p) => {
      assert.deepEqual(parseHostPort(formatHostPort({ host: h, port: p })), { host: h, port: p });
      assert.deepEqual(parseHostPort(`https://${formatHostPort({ host: h, port: p })}/some/path`), {
        host: h,
        port: p,
      });
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.domain(), port, (h, p) => assert.deepEqual(parseHostPort(h, p), { host: h, port: p })),
    RUNS,
  );
});

test('parseHostPort either parses or throws a plain Error naming the input, for any text', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-z.:[\]0-9-]{0,20}$/)),
      fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
      (text, dflt) => {
        let parsed;
        try {
          parsed = parseHostPort(text, dflt);
        } catch (err) {
          assert.ok(err instanceof Error);
          assert.match(err.message, /expected HOST:PORT/);
          return;
        }
        assert.ok(parsed.host.length > 0);
        assert.ok(Number.isInteger(parsed.port) && parsed.port >= 0 && parsed.port <= 65535);
        // What parses, formats and parses back to the same.
        assert.deepEqual(parseHostPort(formatHostPort(parsed)), parsed);
      },
    ),
    { numRuns: 1000 },
  );
});

test('parseHostPort refuses ports that are not whole numbers in range', () => {
  for (const bad of [
    'host:',
    'host:abc',
    'host:70000',
    'host:-1',
    'host:1.5',
    'host:1e3',
    'host: 80',
    ':80',
    '',
    '[::1]:x',
    'host:0x50',
  ]) {
    assert.throws(() => parseHostPort(bad), /expected HOST:PORT/, bad);
  }
  assert.deepEqual(parseHostPort('example.com', 443), { host: 'example.com', port: 443 });
  assert.deepEqual(parseHostPort('[::1]', 443), { host: '::1', port: 443 });
  assert.deepEqual(parseHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});
