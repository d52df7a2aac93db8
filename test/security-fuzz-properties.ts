/**
 * Property definitions shared by test/security-fuzz.test.ts (a short run inside `npm test`) and
 * bench/fuzz-long.ts (`npm run fuzz`: the same properties for minutes).
 *
 * Decoders: ExecInputDecoder (and ExecFrameDecoder) give the same frames however the bytes are split
 * and never throw; every cluster message schema (through `decode`) never throws, and what it accepts
 * re-validates; a signed cluster request verifies after a trip through JSON, and any change to it,
 * a wrong secret or a stale time is refused without throwing; a client identity verifies only for
 * its own key, id, nonce and signature.
 * Live servers: random methods, paths, headers and bodies on every route (API, console, metrics,
 * health, cluster requests, upgrade paths) never get a 500 and always get a JSON error; random
 * WebSocket messages on every channel close only their own connection with a protocol code; random
 * bytes on a raw socket never take the server down.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import WebSocket from 'ws';
import { clientIdFor, rawPublicKey, signIdentity, verifyIdentity } from '../src/protocol/clientIdentity.js';
import {
  ConfigSnapshotSchema,
  linkSalt,
  memberProofText,
  MemberToPrimary,
  openConfig,
  PrimaryToMember,
  sealConfig,
} from '../src/protocol/clusterMessages.js';
import {
  openReply,
  RpcReply,
  RpcRequest,
  signReply,
  signRequest,
  verifyReply,
  verifyRequest,
} from '../src/protocol/clusterRpc.js';
import {
  encodeExecFrame,
  encodeExit,
  encodeStdin,
  encodeStdinEnd,
  ExecFrameDecoder,
  ExecInputDecoder,
  MAX_EXEC_FRAME,
  type ExecFrame,
  type ExecInputFrame,
} from '../src/protocol/execFrames.js';
import { decode, MAX_MESSAGE_BYTES } from '../src/protocol/messages.js';
import { keyProof, newNonce } from '../src/protocol/proof.js';

export interface NamedProperty {
  name: string;
  property: fc.IPropertyWithHooks<any> | fc.IAsyncPropertyWithHooks<any>;
}

function throws(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch {
    return true;
  }
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function sameJson(a: unknown, b: unknown, message: string): void {
  const [x, y] = [JSON.stringify(a), JSON.stringify(b)];
  check(x === y, `${message}: ${x?.slice(0, 300)} !== ${y?.slice(0, 300)}`);
}

/** Cuts a buffer at the given points (taken modulo its length), in order. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(bytes.subarray(at, p));
    at = p;
  }
  parts.push(bytes.subarray(at));
  return parts;
}

// ---- exec frames ----------------------------------------------------------------------------------

/** Decodes stdin frames from the whole stream at once, written independently of the class. */
function referenceStdin(bytes: Buffer): { frames: ExecInputFrame[]; failed: boolean } {
  const frames: ExecInputFrame[] = [];
  let at = 0;
  while (bytes.length - at >= 5) {
    const channel = bytes[at]!;
    const length = bytes.readUInt32BE(at + 1);
    if ((channel !== 4 && channel !== 5) || length > MAX_EXEC_FRAME) return { frames, failed: true };
    if (bytes.length - at - 5 < length) break;
    frames.push(
      channel === 5 ? { end: true } : { end: false, data: Buffer.from(bytes.subarray(at + 5, at + 5 + length)) },
    );
    at += 5 + length;
  }
  return { frames, failed: false };
}

function pushAll<F>(decoder: { push(b: Buffer): F[] }, parts: Buffer[]): F[] {
  return parts.flatMap((p) => decoder.push(p));
}

/** Streams of stdin frames, well-formed or not: real frames, headers with odd channels and lengths, noise. */
const stdinStream = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }).map((d) => encodeStdin(Buffer.from(d))) },
      { weight: 1, arbitrary: fc.constant(encodeStdinEnd()) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.integer({ min: 0, max: 255 }),
            fc.oneof(fc.nat(64), fc.constant(MAX_EXEC_FRAME), fc.constant(MAX_EXEC_FRAME + 1), fc.constant(0xffffffff)),
          )
          .map(([ch, len]) => {
            const h = Buffer.alloc(5);
            h[0] = ch;
            h.writeUInt32BE(len, 1);
            return h;
          }),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((d) => Buffer.from(d)) },
    ),
    { maxLength: 12 },
  )
  .map((parts) => Buffer.concat(parts));

const execStream = fc
  .array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 200 }))
          .map(([ch, d]) => encodeExecFrame(ch as 1 | 2, Buffer.from(d))),
      },
      {
        weight: 1,
        arbitrary: fc
          .record({
            code: fc.oneof(fc.constant(null), fc.integer()),
            signal: fc.oneof(fc.constant(null), fc.constantFrom('SIGTERM', 'SIGKILL')),
          })
          .map((e) => encodeExit(e)),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(3), fc.jsonValue())
          .map(([ch, v]) => encodeExecFrame(ch as 3, Buffer.from(JSON.stringify(v) ?? ''))),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((d) => Buffer.from(d)) },
    ),
    { maxLength: 10 },
  )
  .map((parts) => Buffer.concat(parts));

export function execFrameProperties(): NamedProperty[] {
  return [
    {
      name: 'ExecInputDecoder: stdin and its end come out whole, however the stream is cut',
      property: fc.property(
        fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 30 }),
        (chunks, big, cuts) => {
          const data = chunks.map((c) => Buffer.from(c));
          // Now and then one chunk above the 64 KiB frame size, which the encoder splits.
          if (big) data.push(Buffer.alloc(64 * 1024 + 17, 7));
          const stream = Buffer.concat([...data.map((d) => encodeStdin(d)), encodeStdinEnd()]);
          const decoder = new ExecInputDecoder();
          const frames = pushAll(decoder, split(stream, cuts));
          check(decoder.error === undefined, `unexpected error ${decoder.error}`);
          check(frames.at(-1)?.end === true && frames.filter((f) => f.end).length === 1, 'exactly one end, last');
          const got = Buffer.concat(frames.flatMap((f) => (f.end ? [] : [f.data])));
          check(got.equals(Buffer.concat(data)), 'stdin bytes intact');
        },
      ),
    },
    {
      name: 'ExecInputDecoder: any bytes, any cut: never throws, the same frames and verdict as decoding all at once',
      property: fc.property(stdinStream, fc.array(fc.nat(), { maxLength: 20 }), (stream, cuts) => {
        const decoder = new ExecInputDecoder();
        const frames = pushAll(decoder, split(stream, cuts));
        const reference = referenceStdin(stream);
        check((decoder.error !== undefined) === reference.failed, `verdict: ${decoder.error} vs ${reference.failed}`);
        sameJson(frames, reference.frames, 'frames');
        // After a failure nothing more comes out.
        if (decoder.error) check(decoder.push(encodeStdin(Buffer.from('more'))).length === 0, 'nothing after failure');
      }),
    },
    {
      name: 'ExecInputDecoder: a header announcing more than the limit fails at once, without waiting for the bytes',
      property: fc.property(
        fc.integer({ min: MAX_EXEC_FRAME + 1, max: 0xffffffff }),
        fc.constantFrom(4, 5),
        (length, channel) => {
          const header = Buffer.alloc(5);
          header[0] = channel;
          header.writeUInt32BE(length, 1);
          const decoder = new ExecInputDecoder();
          check(decoder.push(header).length === 0 && decoder.error !== undefined, 'refused at the header');
        },
      ),
    },
    {
      name: 'ExecFrameDecoder: any bytes, any cut: never throws, and the cut does not change the frames or the verdict',
      property: fc.property(execStream, fc.array(fc.nat(), { maxLength: 20 }), (stream, cuts) => {
        const whole = new ExecFrameDecoder();
        const expected = whole.push(stream);
        const pieces = new ExecFrameDecoder();
        const got: ExecFrame[] = pushAll(pieces, split(stream, cuts));
        check(
          (whole.error === undefined) === (pieces.error === undefined),
          `verdict: ${whole.error} vs ${pieces.error}`,
        );
        sameJson(got, expected, 'frames');
        for (const f of got)
          if (f.channel === 3)
            check(f.exit.code === null || Number.isInteger(f.exit.code), 'exit code is an integer or null');
      }),
    },
  ];
}

// ---- cluster messages through decode ---------------------------------------------------------------

const now = () => Date.now();
const entry = {
  id: 'abcdefghijklmnopqrstuvwxyz',
  name: 'box',
  group: 'g',
  platform: 'linux',
  address: '10.0.0.9',
  server: '10.0.0.2:443',
  connectedAt: new Date(0).toISOString(),
  key: 'k1',
  allowExec: false,
  allowForward: [22],
};
const snapshot = {
  version: 3,
  keys: [{ name: 'k1', value: 'v', createdAt: 'x' }],
  operators: [{ name: 'a', role: 'admin', keys: [], createdAt: 'x', passwordHash: 'h', totpSecret: null }],
  servers: [{ address: '10.0.0.2:443', weight: 10, enabled: true, secondary: false }],
  settings: { heartbeat: 5 },
};

/** A valid example of every message of every cluster schema: the seeds of the mutations. */
const samples: { schema: { safeParse(v: unknown): { success: boolean } }; name: string; examples: unknown[] }[] = [
  {
    name: 'MemberToPrimary',
    schema: MemberToPrimary,
    examples: [
      {
        type: 'join',
        version: 2,
        address: '10.0.0.2:443',
        nonce: 'n',
        proof: 'p',
        configVersion: 1,
        epoch: 2,
        fingerprint: 'AA:BB',
        standby: false,
        sessions: 0,
      },
      { type: 'clients', entries: [entry, entry], last: true },
      { type: 'client-up', entry },
      { type: 'client-down', id: 'x' },
      { type: 'load', clients: 3, sessions: 1 },
      { type: 'opened', req: 1, ticket: 't' },
      { type: 'open-failed', req: 1, error: { code: 'SB_ERR_X', message: 'm' } },
    ],
  },
  {
    name: 'PrimaryToMember',
    schema: PrimaryToMember,
    examples: [
      { type: 'challenge', nonce: 'n', epoch: 1, primary: '10.0.0.1:443' },
      { type: 'accepted', proof: 'p', epoch: 1, primary: '10.0.0.1:443', secondary: '10.0.0.3:443' },
      { type: 'config', sealed: 'c2VhbGVk' },
      { type: 'open', req: 1, clientId: 'c', target: { kind: 'forward', port: 22 }, operator: 'o' },
      { type: 'open', req: 2, clientId: 'c', target: { kind: 'exec', command: ['ls', '-l'] }, operator: 'o' },
      { type: 'drain', draining: true },
      { type: 'directory', reset: true, down: ['x'], up: [entry] },
    ],
  },
  { name: 'ConfigSnapshot', schema: ConfigSnapshotSchema, examples: [snapshot] },
  {
    name: 'RpcRequest',
    schema: RpcRequest,
    examples: [
      { method: 'status', params: {}, from: '10.0.0.2:443', nonce: 'n', at: 1, proof: 'p' },
      { method: 'step-down', params: { epoch: 3 }, from: 'a:1', nonce: 'n', at: 1, proof: 'p' },
    ],
  },
  {
    name: 'RpcReply',
    schema: RpcReply,
    examples: [
      { sealed: 'c2VhbGVk', proof: 'p' },
      { error: { code: 'c', message: 'm' }, proof: 'p' },
    ],
  },
];

type Path = (string | number)[];

function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

const mutationOps = ['replace', 'delete', 'add-key', 'wrap', 'stringify', 'deep', 'long-string', 'big-number'] as const;

/** A key made from any value; String() throws for some (an object whose toString is not a function). */
function keyNameFor(value: unknown): string {
  try {
    return String(value).slice(0, 8);
  } catch {
    return 'odd';
  }
}

/** Applies one mutation at one path of a deep copy of a JSON value. */
function mutate(value: unknown, path: Path, op: (typeof mutationOps)[number], replacement: unknown): unknown {
  const root = { v: structuredClone(value) } as Record<string | number, unknown>;
  const full: Path = ['v', ...path];
  let parent = root as Record<string | number, unknown>;
  for (const k of full.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = full.at(-1)!;
  const current = parent[last];
  switch (op) {
    case 'replace':
      parent[last] = replacement;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      break;
    case 'add-key': {
      const name = keyNameFor(replacement);
      if (current && typeof current === 'object' && !Array.isArray(current))
        (current as Record<string, unknown>)[`x${name}`] = replacement;
      else parent[last] = { [name]: current };
      break;
    }
    case 'wrap':
      parent[last] = [current];
      break;
    case 'stringify':
      parent[last] = JSON.stringify(current) ?? 'undefined';
      break;
    case 'deep':
      parent[last] = JSON.parse('['.repeat(3000) + ']'.repeat(3000)) as unknown;
      break;
    case 'long-string':
      parent[last] = 'x'.repeat(70_000);
      break;
    case 'big-number':
      parent[last] = typeof replacement === 'number' ? replacement * 1e300 : -1;
      break;
  }
  return root.v;
}

/** What ws can hand a message handler, and some things it never does. */
const rawFrame = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.array(
    fc.uint8Array({ maxLength: 50 }).map((b) => Buffer.from(b)),
    { maxLength: 4 },
  ),
  fc.uint8Array({ maxLength: 50 }).map((b) => b.buffer),
  fc.anything(),
);

export function clusterDecodeProperties(): NamedProperty[] {
  return [
    {
      name: 'decode with every cluster schema: any frame is refused or accepted without throwing',
      property: fc.property(fc.constantFrom(...samples), rawFrame, (sample, raw) => {
        const result = decode(sample.schema as never, raw);
        check(result.ok === true || typeof result.error === 'string', 'a verdict');
      }),
    },
    {
      name: 'decode with every cluster schema: a mutated valid message is refused cleanly, or accepted and still valid',
      property: fc.property(
        fc.constantFrom(...samples),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(...mutationOps),
        fc.jsonValue({ maxDepth: 3 }),
        (sample, which, where, op, replacement) => {
          const example = sample.examples[which % sample.examples.length];
          const paths = pathsOf(example);
          const mutated = mutate(example, paths[where % paths.length]!, op, replacement);
          const text = JSON.stringify(mutated) ?? 'null';
          const result = decode(sample.schema as never, text);
          if (text.length > MAX_MESSAGE_BYTES) check(!result.ok, 'over the size limit is refused');
          if (!result.ok) return check(typeof result.error === 'string' && result.error.length > 0, 'a reason');
          check(sample.schema.safeParse(result.value).success, 're-validates');
          const again = decode(sample.schema as never, JSON.stringify(result.value));
          check(again.ok, 'decodes again');
          sameJson(again.ok && again.value, result.value, 'stable through JSON');
        },
      ),
    },
    {
      name: 'decode: the valid examples of every cluster schema are accepted',
      property: fc.property(fc.constantFrom(...samples), (sample) => {
        for (const ex of sample.examples)
          check(decode(sample.schema as never, JSON.stringify(ex)).ok, `${sample.name} ${JSON.stringify(ex)}`);
      }),
    },
  ];
}

// ---- signed cluster requests -----------------------------------------------------------------------

const secretArb = fc.string({ minLength: 16, maxLength: 64 });
const paramsArb = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
const fromArb = fc.string({ minLength: 0, maxLength: 40 });
const methodArb = fc.constantFrom(
  'status' as const,
  'snapshot' as const,
  'step-down' as const,
  'acting-primary' as const,
);

export function rpcProperties(): NamedProperty[] {
  return [
    {
      name: 'RpcRequest: a signed request verifies after a trip through JSON and decode (one with a __proto__ parameter is refused)',
      property: fc.property(
        secretArb,
        methodArb,
        paramsArb,
        fromArb,
        fc.integer({ min: -29_000, max: 29_000 }),
        (secret, method, params, from, skew) => {
          const t = now();
          const signed = signRequest(secret, method, params, from, t + skew);
          const decoded = decode(RpcRequest, JSON.stringify(signed));
          check(decoded.ok, `decodes: ${!decoded.ok && decoded.error}`);
          const verdict = verifyRequest(secret, decoded.value, t);
          // zod does not keep a '__proto__' key of a record (it would be the prototype, not a key), so
          // what is verified differs from what was signed: refused, never a polluted prototype.
          if (Object.hasOwn(params, '__proto__'))
            return check(typeof verdict === 'string', 'a __proto__ parameter is refused');
          check(verdict === undefined, `verifies: ${verdict} for ${JSON.stringify(signed)}`);
        },
      ),
    },
    {
      name: 'RpcRequest: any change after signing, a wrong secret, or a time more than 30 s off is refused',
      property: fc.property(
        secretArb,
        secretArb,
        methodArb,
        paramsArb,
        fromArb,
        fc.constantFrom('method', 'params', 'from', 'nonce', 'at', 'proof', 'secret', 'old', 'future'),
        fc.jsonValue({ maxDepth: 2 }),
        (secret, other, method, params, from, field, value) => {
          const t = now();
          const signed = signRequest(secret, method, params, from, t);
          let changed: RpcRequest = { ...signed };
          let key = secret;
          switch (field) {
            case 'method':
              changed.method = method === 'status' ? 'snapshot' : 'status';
              break;
            case 'params':
              changed.params = { ...params, [`p${JSON.stringify(value)}`]: value ?? null };
              break;
            case 'from':
              changed.from = `${from}x`;
              break;
            case 'nonce':
              changed.nonce = newNonce();
              break;
            case 'at':
              changed.at = signed.at + 1;
              break;
            case 'proof':
              changed.proof = keyProof(other === secret ? `${other}!` : other, 'cluster-rpc', signed.nonce, 'x');
              break;
            case 'secret':
              key = other === secret ? `${other}!` : other;
              break;
            case 'old':
              changed = signRequest(secret, method, params, from, t - 30_001);
              break;
            case 'future':
              changed = signRequest(secret, method, params, from, t + 30_001);
              break;
          }
          const verdict = verifyRequest(key, changed, t);
          check(typeof verdict === 'string', `${field} changed and still accepted: ${JSON.stringify(changed)}`);
        },
      ),
    },
    {
      name: 'RpcRequest: verifyRequest never throws, whatever decode accepted (deep params included)',
      // The deep parameters are made as text inside the property: fast-check itself would recurse
      // through a deep value to print or shrink it.
      property: fc.property(
        secretArb,
        fc.record({
          method: methodArb,
          params: paramsArb,
          from: fc.string({ maxLength: 260 }),
          nonce: fc.string({ maxLength: 128 }),
          at: fc.oneof(fc.double(), fc.constant(0)),
          proof: fc.string({ maxLength: 128 }),
        }),
        fc.nat(8000),
        (secret, request, depth) => {
          const text = JSON.stringify({ ...request, at: request.at || now() });
          const deep =
            depth > 0
              ? text
                  .replace('"params":{', `"params":{"deep":${'['.repeat(depth)}${']'.repeat(depth)},`)
                  .replace(',}', '}')
              : text;
          const decoded = decode(RpcRequest, deep);
          if (!decoded.ok) return;
          const verdict = verifyRequest(secret, decoded.value, now());
          check(typeof verdict === 'string', 'an unsigned request is refused');
        },
      ),
    },
    {
      name: 'sealConfig: a snapshot opens only with its secret and link, and any change breaks it',
      property: fc.property(
        secretArb,
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        fc.nat(),
        (secret, primaryNonce, memberNonce, flip) => {
          const salt = linkSalt(primaryNonce, memberNonce);
          const sealed = sealConfig(secret, salt, 7, ConfigSnapshotSchema.parse(snapshot));
          sameJson(openConfig(secret, salt, sealed), { seq: 7, snapshot }, 'opens to the count and the snapshot');
          check(
            throws(() => openConfig(`${secret}x`, salt, sealed)),
            'not with another secret',
          );
          check(
            throws(() => openConfig(secret, linkSalt(memberNonce, `${primaryNonce}x`), sealed)),
            'not on another link',
          );
          const raw = Buffer.from(sealed, 'base64url');
          raw[flip % raw.length]! ^= 1;
          check(
            throws(() => openConfig(secret, salt, raw.toString('base64url'))),
            'not once changed',
          );
        },
      ),
    },
    {
      name: 'memberProofText: no two joins, or bindings, sign the same text (a fingerprint cannot pass for a binding)',
      property: fc.property(
        fc.string({ maxLength: 30 }),
        fc.string({ maxLength: 30 }),
        fc.boolean(),
        fc.string({ maxLength: 30 }),
        fc.string({ maxLength: 30 }),
        (address, fingerprint, standby, binding, other) => {
          const text = memberProofText({ address, fingerprint, standby }, binding);
          check(
            text !== memberProofText({ address, fingerprint: `${fingerprint}|tls:${binding}`, standby }, ''),
            'a binding moved into the fingerprint',
          );
          check(text !== memberProofText({ address, fingerprint, standby: !standby }, binding), 'standby flipped');
          if (other !== binding)
            check(text !== memberProofText({ address, fingerprint, standby }, other), 'another binding');
          if (other !== address)
            check(text !== memberProofText({ address: other, fingerprint, standby }, binding), 'another address');
          check(
            !MemberToPrimary.safeParse({
              type: 'join',
              version: 2,
              address: '10.0.0.2:443',
              nonce: 'n',
              proof: 'p',
              configVersion: 0,
              epoch: 0,
              fingerprint: `AA:BB|tls:${binding}`,
              sessions: 0,
            }).success,
            'a fingerprint is hex and colons only',
          );
        },
      ),
    },
    {
      name: 'RpcReply: a reply verifies and opens only for its own request nonce and secret, and any change breaks it',
      property: fc.property(
        secretArb,
        fc.string({ maxLength: 40 }),
        fc.jsonValue({ maxDepth: 3 }),
        fc.jsonValue({ maxDepth: 2 }),
        (secret, nonce, result, other) => {
          const reply = signReply(secret, nonce, { result });
          const decoded = decode(RpcReply, JSON.stringify(reply));
          check(decoded.ok, 'decodes');
          check(verifyReply(secret, nonce, decoded.value), 'verifies');
          sameJson(openReply(secret, nonce, decoded.value), result, 'opens to the result');
          check(!verifyReply(secret, `${nonce}x`, decoded.value), 'not for another nonce');
          check(!verifyReply(`${secret}x`, nonce, decoded.value), 'not for another secret');
          check(
            throws(() => openReply(`${secret}x`, nonce, decoded.value)),
            'does not open with another secret',
          );
          check(
            throws(() => openReply(secret, `${nonce}x`, decoded.value)),
            'does not open for another nonce',
          );
          check(
            !verifyReply(secret, nonce, {
              ...decoded.value,
              sealed: signReply(secret, nonce, { result: other }).sealed,
            }),
            'not with another sealed result',
          );
        },
      ),
    },
  ];
}

// ---- client identity -------------------------------------------------------------------------------

export function identityProperties(): NamedProperty[] {
  const pair = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = rawPublicKey(publicKey);
    return { privateKey, publicKey: raw.toString('base64url'), id: clientIdFor(raw) };
  };
  return [
    {
      name: 'verifyIdentity: true for its own id, key, nonce and signature; false when any of them is another',
      property: fc.property(
        fc.string({ maxLength: 64 }),
        fc.string({ maxLength: 64 }),
        fc.constantFrom('id', 'publicKey', 'signature', 'nonce', 'none'),
        (nonce, other, change) => {
          const me = pair();
          const them = pair();
          const signature = signIdentity(me.privateKey, nonce, me.id);
          const claim = { id: me.id, publicKey: me.publicKey, signature, nonce };
          switch (change) {
            case 'id':
              claim.id = them.id;
              break;
            case 'publicKey':
              claim.publicKey = them.publicKey;
              break;
            case 'signature':
              claim.signature = signIdentity(them.privateKey, nonce, me.id);
              break;
            case 'nonce':
              claim.nonce = other === nonce ? `${nonce}x` : other;
              break;
          }
          check(
            verifyIdentity(claim.id, claim.publicKey, claim.signature, claim.nonce) === (change === 'none'),
            `${change}: ${JSON.stringify(claim)}`,
          );
        },
      ),
    },
    {
      name: 'verifyIdentity: arbitrary strings never verify and never throw',
      property: fc.property(
        fc.string({ maxLength: 80 }),
        fc.oneof(fc.string({ maxLength: 80 }), fc.base64String({ maxLength: 64 })),
        fc.oneof(fc.string({ maxLength: 130 }), fc.base64String({ maxLength: 128 })),
        fc.string({ maxLength: 64 }),
        (id, publicKey, signature, nonce) => {
          check(verifyIdentity(id, publicKey, signature, nonce) === false, 'refused');
        },
      ),
    },
    {
      name: 'verifyIdentity: a real key with bit flips in the signature or key never verifies',
      property: fc.property(fc.string({ maxLength: 32 }), fc.nat(), fc.boolean(), (nonce, bit, inKey) => {
        const me = pair();
        const signature = Buffer.from(signIdentity(me.privateKey, nonce, me.id), 'base64url');
        const key = Buffer.from(me.publicKey, 'base64url');
        const target = inKey ? key : signature;
        target[(bit >> 3) % target.length]! ^= 1 << (bit & 7);
        check(
          !verifyIdentity(me.id, key.toString('base64url'), signature.toString('base64url'), nonce),
          'a flipped bit is refused',
        );
      }),
    },
  ];
}

export function decoderProperties(): NamedProperty[] {
  return [...execFrameProperties(), ...clusterDecodeProperties(), ...rpcProperties(), ...identityProperties()];
}

// ---- live servers -----------------------------------------------------------------------------------

export interface LiveTarget {
  address: string;
  /** Bearer tokens to call with (undefined: no one). */
  tokens: (string | undefined)[];
  /** A key that clients and controls may prove. */
  key: string;
}

export interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request on a fresh connection; status 0 when the server hung up without an answer. */
export function exchange(
  address: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  timeoutMs = 15_000,
): Promise<Exchange> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const req = http.request({
      host,
      port,
      method,
      path,
      headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (x: Exchange) => {
      clearTimeout(timer);
      resolve(x);
    };
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      done({ status: res.statusCode ?? 101, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', () => done({ status: 0, headers: {}, body: '' }));
    req.end(body);
  });
}

const pathChar = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~%:@!$&'()*+,;=-".split(''),
);
const segment = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'api',
      'v1',
      'login',
      'logout',
      'session',
      'clients',
      'servers',
      'keys',
      'operators',
      'settings',
      'config',
      'audit',
      'exec',
      'events',
      'totp',
      'console',
      'app.js',
      'style.css',
      'index.html',
      'healthz',
      'metrics',
      'cluster',
      'rpc',
      'client',
      'control',
      'heartbeat',
      'require-tls',
      'admin',
      '127.0.0.1:9',
    ),
  },
  { weight: 2, arbitrary: fc.array(pathChar, { maxLength: 16 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '..', '%2e%2e', '%2F', '%00', '%ff', '%c0%ae', '', '.', '~') },
);
const prefix = fc.constantFrom(
  '/',
  '/healthz',
  '/metrics',
  '/console/',
  '/console',
  '/api/v1/',
  '/api/v1',
  '/v1/cluster/rpc',
  '/v1/cluster',
  '/v1/client',
  '/v1/control',
  '/v1/session/',
  '//',
  '/api/v1/clients/',
  '/api/v1/operators/',
  '/api/v1/servers/',
  '/api/v1/keys/',
  '/api/v1/settings/',
);
const query = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.array(pathChar, { maxLength: 8 }).map((a) => a.join('')),
        fc.array(pathChar, { maxLength: 12 }).map((a) => a.join('')),
      ),
      { maxLength: 4 },
    )
    .map((kv) => `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}`),
);
const pathArb = fc
  .tuple(prefix, fc.array(segment, { maxLength: 3 }), query)
  .map(([p, segs, q]) => `${p}${segs.join('/')}${q}`);
const methodArbHttp = fc.oneof(
  fc.constantFrom(
    'GET',
    'POST',
    'PUT',
    'DELETE',
    'PATCH',
    'HEAD',
    'OPTIONS',
    'TRACE',
    'PROPFIND',
    'MKCOL',
    'PURGE',
    'LINK',
  ),
  fc.stringMatching(/^[A-Z]{1,10}$/),
);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,80}$/);
const interestingHeaders = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '',
      ),
      headerValue,
    ),
    authorization: fc.oneof(
      fc.constant('Bearer '),
      fc.stringMatching(/^Bearer [A-Za-z0-9_-]{0,140}$/),
      fc.stringMatching(/^Basic [A-Za-z0-9+/=]{0,40}$/),
      headerValue,
    ),
    cookie: fc.oneof(fc.stringMatching(/^sb_session=[A-Za-z0-9_-]{0,60}$/), headerValue),
    'x-csrf-token': headerValue,
    origin: fc.oneof(fc.constantFrom('http://evil.example', 'null', 'http://127.0.0.1'), headerValue),
    upgrade: fc.constantFrom('websocket', 'switchboard-session', 'h2c', 'WebSocket'),
    connection: fc.constantFrom('upgrade', 'Upgrade', 'close', 'keep-alive'),
    'sec-websocket-version': fc.constantFrom('13', '8', 'x'),
    'sec-websocket-key': fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), headerValue),
    accept: fc.constantFrom('text/event-stream', 'application/json', '*/*'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity'),
    'x-forwarded-for': headerValue,
    range: fc.constantFrom('bytes=0-1', 'bytes=-5', 'bytes=x'),
  },
  { requiredKeys: [] },
);
const randomHeaders = fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), headerValue, { maxKeys: 4 });
const deepJson = fc.integer({ min: 1, max: 6000 }).map((d) => '['.repeat(d) + ']'.repeat(d));
const bodyArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  {
    weight: 2,
    arbitrary: fc
      .record(
        {
          operator: fc.string({ maxLength: 20 }),
          password: fc.string({ maxLength: 40 }),
          totp: fc.string({ maxLength: 8 }),
          name: fc.string({ maxLength: 70 }),
          value: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.boolean()),
          address: fc.string({ maxLength: 30 }),
          weight: fc.integer(),
          client: fc.string({ maxLength: 30 }),
          command: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
          role: fc.string({ maxLength: 8 }),
          keys: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
        },
        { requiredKeys: [] },
      )
      .map((v) => Buffer.from(JSON.stringify(v))),
  },
  {
    weight: 1,
    arbitrary: deepJson.map((d) =>
      Buffer.from(`{"operator":${d},"password":${d},"value":${d},"command":${d},"name":${d}}`),
    ),
  },
  // Cluster-request shaped bodies, signed with nothing, stamped now, with parameters nested deep.
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('status', 'snapshot', 'step-down', 'x'),
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ p: v })),
          deepJson.map((d) => `{"p":${d}}`),
        ),
        fc.string({ maxLength: 30 }),
      )
      .map(([m, p, s]) =>
        Buffer.from(
          `{"method":${JSON.stringify(m)},"params":${p},"from":${JSON.stringify(s)},"nonce":"n","at":${Date.now()},"proof":${JSON.stringify(s)}}`,
        ),
      ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
);

/** Requests that change the fuzzing server out from under the fuzzer (its own logins, require-tls). */
function tooDestructive(method: string, path: string): boolean {
  return (
    method !== 'GET' &&
    method !== 'HEAD' &&
    /operators|require-tls|admission-rate|max-connections|hello-timeout|lockout/.test(path)
  );
}

export function httpProperty(target: LiveTarget): fc.IAsyncPropertyWithHooks<any> {
  return fc.asyncProperty(
    methodArbHttp,
    pathArb,
    interestingHeaders,
    randomHeaders,
    bodyArb,
    fc.nat(target.tokens.length - 1),
    async (method, path, headers, extra, body, who) => {
      if (tooDestructive(method, path)) return;
      const token = target.tokens[who];
      const all: Record<string, string> = {
        ...extra,
        ...headers,
        ...(token && !headers.authorization ? { authorization: `Bearer ${token}` } : {}),
      };
      // An upgrade refusal carries a JSON body, which a HEAD answer may not have: Node's client then
      // reads that body as a broken next answer. Not a server fault; HEAD is fuzzed without Upgrade.
      if (method === 'HEAD') delete all.upgrade;
      const answer = await exchange(
        target.address,
        method,
        path,
        all,
        method === 'GET' || method === 'HEAD' ? (body && body.length < 64 ? body : undefined) : body,
      );
      const what = `${method} ${path} ${JSON.stringify(all)} ${body?.subarray(0, 200).toString()} -> ${answer.status} ${answer.body.slice(0, 300)}`;
      check(answer.status !== 0 || method === 'CONNECT', `no answer: ${what}`);
      check(
        answer.status < 500 || (answer.status === 503 && /SB_ERR_(BUSY|SHUTTING_DOWN)/.test(answer.body)),
        `server error: ${what}`,
      );
      if (answer.status >= 400 && method !== 'HEAD') {
        let parsed: { error?: { code?: unknown; message?: unknown } } | undefined;
        try {
          parsed = JSON.parse(answer.body) as typeof parsed;
        } catch {
          throw new Error(`not a JSON error: ${what}`);
        }
        check(
          typeof parsed?.error?.code === 'string' && /^SB_ERR_[A-Z_]+$/.test(parsed.error.code),
          `no error code: ${what}`,
        );
        check(typeof parsed?.error?.message === 'string', `no error message: ${what}`);
      }
    },
  );
}

/** The unauthenticated door between servers, on its own: POST /v1/cluster/rpc with request-shaped bodies. */
export function clusterRpcProperty(target: LiveTarget): fc.IAsyncPropertyWithHooks<any> {
  return fc.asyncProperty(bodyArb, fc.constantFrom('application/json', 'text/plain'), async (body, type) => {
    const answer = await exchange(target.address, 'POST', '/v1/cluster/rpc', { 'content-type': type }, body);
    const what = `${body?.subarray(0, 200).toString()} -> ${answer.status} ${answer.body.slice(0, 300)}`;
    check(answer.status === 400 || answer.status === 403, `refused: ${what}`);
    check(/^\{"error":\{"code":"SB_ERR_[A-Z_]+","message":/.test(answer.body), `a JSON error: ${what}`);
  });
}

/** Random messages on each WebSocket channel: the connection answers, or closes with a protocol code. */
export function websocketProperty(target: LiveTarget): fc.IAsyncPropertyWithHooks<any> {
  const message = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
    fc
      .record(
        {
          type: fc.constantFrom(
            'hello',
            'login',
            'request',
            'session-refused',
            'join',
            'client-up',
            'load',
            'opened',
            'x',
          ),
          version: fc.oneof(fc.constant(1), fc.jsonValue()),
          id: fc.string({ maxLength: 30 }),
          proof: fc.string({ maxLength: 50 }),
          method: fc.constantFrom('browse', 'servers', 'open', 'x'),
          req: fc.oneof(fc.nat(), fc.jsonValue()),
          params: fc.jsonValue({ maxDepth: 3 }),
        },
        { requiredKeys: ['type'] },
      )
      .map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 100 }),
    deepJson.map((d) => `{"type":"request","req":1,"method":"browse","params":{"group":${d}}}`),
  );
  return fc.asyncProperty(
    fc.constantFrom('/v1/client', '/v1/control', '/v1/cluster'),
    fc.array(message, { minLength: 1, maxLength: 4 }),
    async (path, messages) => {
      const [host, port] = [
        target.address.slice(0, target.address.lastIndexOf(':')),
        target.address.slice(target.address.lastIndexOf(':') + 1),
      ];
      const ws = new WebSocket(`ws://${host}:${port}${path}`, { perMessageDeflate: false });
      const closed = new Promise<number>((resolve) => {
        ws.on('close', (code) => resolve(code));
        ws.on('error', () => undefined);
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => reject(new Error(`${path}: refused with ${res.statusCode}`)));
        ws.once('error', reject);
      });
      for (const m of messages) ws.send(m);
      // Give the server a moment to react, then hang up if it has not.
      const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 300))]);
      if (code === -1) ws.terminate();
      check(
        code === -1 || (code >= 4000 && code < 5000) || code === 1000 || code === 1009 || code === 1006,
        `${path}: closed with ${code}`,
      );
    },
  );
}

/** Random bytes, and valid requests with bytes flipped, on a raw socket: whatever the server says. */
export function rawSocketProperty(target: LiveTarget): fc.IAsyncPropertyWithHooks<any> {
  const valid = fc.constantFrom(
    'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    'GET /v1/client HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    'GET /v1/session/abc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: switchboard-session\r\n\r\n',
    'POST /v1/cluster/rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
  );
  const bytes = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 400 }).map((b) => Buffer.from(b)),
    fc
      .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }))
      .map(([text, flips]) => {
        const b = Buffer.from(text);
        for (const [at, v] of flips) b[at % b.length] = v;
        return b;
      }),
  );
  return fc.asyncProperty(bytes, async (data) => {
    const [host, port] = [
      target.address.slice(0, target.address.lastIndexOf(':')),
      Number(target.address.slice(target.address.lastIndexOf(':') + 1)),
    ];
    await new Promise<void>((resolve) => {
      const socket = net.connect({ host, port }, () => socket.end(data));
      socket.on('data', () => undefined);
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 1000);
    });
  });
}
