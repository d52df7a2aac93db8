import { z } from 'zod';
import { EXCHANGE_KEY } from './resumeTicket.js';

/**
 * Every JSON message of the control plane, validated at the edge. `decode*` never throws: bad input
 * becomes `{ ok: false, error }`, so a malformed frame can only ever close its own connection.
 */

export const MAX_MESSAGE_BYTES = 64 * 1024;
/**
 * What a server may send a control (a browse of a large fleet) and what servers of one cluster
 * send each other (a member's client list, a configuration snapshot): 10,000 clients take ~3 MB.
 */
export const MAX_BULK_MESSAGE_BYTES = 64 * 1024 * 1024;

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@-]+$/);
const label = z.string().max(128);
const port = z.number().int().min(1).max(65535);
const hostPort = z.string().min(3).max(260);

export const SessionTarget = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('forward'), port, host: z.string().max(255).optional() }),
  z.object({ kind: z.literal('exec'), command: z.array(z.string().max(4096)).min(1).max(256) }),
  // A file copy or a directory listing inside the client's --allow-files directory (src/protocol/fileWire.ts).
  z.object({
    kind: z.literal('files'),
    op: z.enum(['get', 'put', 'list']),
    path: z.string().max(4096),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  /** An interactive terminal (shellFrames.ts), of this size at first; the client picks the shell. */
  z.object({
    kind: z.literal('shell'),
    cols: z.number().int().min(1).max(1000),
    rows: z.number().int().min(1).max(1000),
  }),
]);
export type SessionTarget = z.infer<typeof SessionTarget>;

/**
 * Certificate pins a server vouches for (src/net/pins.ts): hex or `spki:sha256/BASE64`, commas
 * between several. Checked in full where they are used; here only bounded.
 */
const pin = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9+/=:, -]+$/);
export const VouchedPinsSchema = z.record(hostPort, pin).refine((r) => Object.keys(r).length <= 16, 'too many pins');

/**
 * Members a welcome names at most: with the primary and the secondary, as many as a welcome's pins
 * may vouch for (16), so that a pinned client can dial each one it is told of.
 */
export const MAX_RETURN_MEMBERS = 14;

export const ClusterAddresses = z.object({
  primary: hostPort.optional(),
  secondary: hostPort.optional(),
  /** The pins of the primary, the secondary and the members, so that a client placed here can fail over to them. */
  pins: VouchedPinsSchema.optional(),
  /**
   * The other servers a client may return to straight away if it loses the primary (since 0.3;
   * src/net/serverList.ts). Optional both ways: a client before 0.3 ignores it, one told none
   * returns through the secondary as before.
   */
  members: z.array(hostPort).max(MAX_RETURN_MEMBERS).optional(),
});

// ---- server → client -------------------------------------------------------------------------
/** The server's first message to a client or a control: the nonce its proof must cover. */
const Challenge = z.object({
  type: z.literal('challenge'),
  nonce: z.string().max(128),
  server: hostPort,
  epoch: z.number().int().min(0),
  /**
   * The server accepts resume proofs (resumeTicket.ts) of tickets under this key id. A server
   * before resume tickets sets none, and a client then signs its hello as before.
   */
  resume: z.string().max(32).optional(),
});

/** A resume ticket a welcome hands the client, sealed to the X25519 key its hello signed (resumeTicket.ts). */
const IssuedTicket = z.object({
  kid: z.string().max(32),
  at: z.number().int().min(0),
  server: z.string().max(64),
  salt: z.string().max(128),
  sealed: z.string().max(512),
});

/**
 * The heartbeat a server tells its clients, in seconds: what the `heartbeat` setting allows
 * (store/settings.ts). Bounded, since a client arms a timer with it (Node runs a timer of over
 * 2^31 - 1 ms after 1 ms).
 */
export const HEARTBEAT_SECONDS = { min: 0.2, max: 3600 } as const;
const heartbeatSeconds = z.number().min(HEARTBEAT_SECONDS.min).max(HEARTBEAT_SECONDS.max);

export const ServerToClient = z.discriminatedUnion('type', [
  Challenge,
  z.object({
    type: z.literal('welcome'),
    server: hostPort,
    heartbeat: heartbeatSeconds,
    cluster: ClusterAddresses,
    /** Only for a hello that named a `ticketKey`: a client before resume tickets names none (and would drop this field). */
    resume: IssuedTicket.optional(),
  }),
  /** `pin`: the certificate pin of the server redirected to, vouched for by this one. */
  z.object({ type: z.literal('redirect'), to: hostPort, reason: z.string().max(256), pin: pin.optional() }),
  z.object({
    type: z.literal('reconnect'),
    reason: z.string().max(256),
    to: hostPort.optional(),
    pin: pin.optional(),
    delayMs: z.number().int().min(0).optional(),
  }),
  z.object({ type: z.literal('session'), ticket: z.string().max(128), target: SessionTarget }),
  /** The `heartbeat` setting changed: the server's pings come this many seconds apart from now on. */
  z.object({ type: z.literal('heartbeat'), heartbeat: heartbeatSeconds }),
  /** The client's key was rotated: its new secret, sealed under the old one (keyHandover.ts). */
  z.object({
    type: z.literal('key-rotated'),
    key: z.string().max(64),
    salt: z.string().max(128),
    sealed: z.string().max(1024),
  }),
]);
export type ServerToClient = z.infer<typeof ServerToClient>;

// ---- client → server -------------------------------------------------------------------------
const ClientHelloFields = z.object({
  type: z.literal('hello'),
  version: z.literal(1),
  id,
  name: label.min(1),
  group: label,
  platform: label,
  proof: z.string().max(128),
  /** The client's Ed25519 public key (raw, base64url); the id is derived from it. */
  publicKey: z.string().max(64),
  /** The key's signature over the server's nonce and the id (and `ticketKey`); absent only with `resume`. */
  signature: z.string().max(128).optional(),
  allowForward: z.array(port).max(1024),
  allowExec: z.boolean(),
  /** The client's X25519 public key (raw, base64url) to seal a resume ticket to: asks for one. */
  ticketKey: z.string().regex(EXCHANGE_KEY).optional(),
  /** Instead of the signature, to a server whose challenge accepts resume proofs: the ticket's time and proof. */
  resume: z.object({ at: z.number().int().min(0), proof: z.string().max(128) }).optional(),
  /**
   * The client follows a changed heartbeat (the `heartbeat` message) without reconnecting. A client
   * before 0.3 names none, and is never sent one: it would take the unknown message for a fault.
   */
  heartbeatUpdates: z.literal(true).optional(),
});
export const ClientHello = ClientHelloFields.refine(
  (hello) => hello.signature !== undefined || hello.resume !== undefined,
  { message: 'a signature is required without resume', path: ['signature'] },
);
export type ClientHello = z.infer<typeof ClientHello>;

export const ClientToServer = z.discriminatedUnion('type', [
  ClientHello,
  z.object({
    type: z.literal('session-refused'),
    ticket: z.string().max(128),
    error: z.object({ code: z.string().max(64), message: z.string().max(512) }),
  }),
]);
export type ClientToServer = z.infer<typeof ClientToServer>;

// ---- control ⇄ server --------------------------------------------------------------------------
export const ControlLogin = z.object({
  type: z.literal('login'),
  version: z.literal(1),
  proof: z.string().max(128),
  operator: z.string().max(128).optional(),
  password: z.string().max(1024).optional(),
  totp: z.string().max(16).optional(),
  /** Instead of password and TOTP: a session token from POST /api/v1/login (`control login`). */
  token: z.string().max(128).optional(),
});
export type ControlLogin = z.infer<typeof ControlLogin>;

export const ControlRequest = z.object({
  type: z.literal('request'),
  req: z.number().int().min(0),
  method: z.enum(['browse', 'servers', 'open']),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type ControlRequest = z.infer<typeof ControlRequest>;

export const ControlToServer = z.discriminatedUnion('type', [ControlLogin, ControlRequest]);
export type ControlToServer = z.infer<typeof ControlToServer>;

/** The most clients one page may ask for: 5,000 take ~1.5 MB, well inside MAX_BULK_MESSAGE_BYTES. */
export const MAX_BROWSE_PAGE = 5000;
/**
 * Without `limit` the answer is every matching client (ClientInfo[]), as controls before paging
 * expect; with it, one page (BrowsePage). `state` is one of CLIENT_STATES (clientStates.ts).
 */
export const BrowseParams = z.object({
  group: z.string().max(128).optional(),
  filter: z.string().max(256).optional(),
  limit: z.number().int().min(1).max(MAX_BROWSE_PAGE).optional(),
  cursor: z.string().max(512).optional(),
  state: z.string().max(32).optional(),
  /** Offline devices too, after the online clients, with when each was last seen (not paged). */
  all: z.boolean().optional(),
});
export type BrowseParams = z.infer<typeof BrowseParams>;
export const OpenParams = z.object({ client: z.string().min(1).max(128), target: SessionTarget });
export type OpenParams = z.infer<typeof OpenParams>;

export const WireErrorSchema = z.object({ code: z.string(), message: z.string() });

export const ServerToControl = z.discriminatedUnion('type', [
  Challenge,
  z.object({
    type: z.literal('ready'),
    server: hostPort,
    role: z.string(),
    operator: z.string().optional(),
    expiresAt: z.string().optional(),
    /** The secondary's (and the primary's) pins, so that a control can fail over to a server it was not pinned to. */
    pins: VouchedPinsSchema.optional(),
  }),
  z.object({
    type: z.literal('response'),
    req: z.number().int(),
    result: z.unknown().optional(),
    error: WireErrorSchema.optional(),
  }),
]);
export type ServerToControl = z.infer<typeof ServerToControl>;

/** A client as a control sees it: the `browse --json` shape. */
export interface ClientInfo {
  id: string;
  name: string;
  group: string;
  platform: string;
  address: string;
  server: string;
  connectedAt: string;
}

/** One page of a browse with `limit`: `next`, when present, is the cursor of the following page. */
export interface BrowsePage<T = ClientInfo> {
  clients: T[];
  next?: string;
}

/** A server as a control sees it: the `servers --json` shape (the Servers tab). */
export interface ServerInfo {
  address: string;
  role: string;
  weight: number;
  enabled: boolean;
  secondary: boolean;
  status: 'up' | 'down' | 'draining';
  clients: number;
  sessions: number;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses one text frame against a schema; never throws. */
export function decode<T>(schema: z.ZodType<T>, raw: unknown, maxBytes = MAX_MESSAGE_BYTES): Decoded<T> {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else if (Buffer.isBuffer(raw)) text = raw.toString('utf8');
  else if (Array.isArray(raw) && raw.every((part) => part instanceof Uint8Array))
    text = Buffer.concat(raw as Buffer[]).toString('utf8');
  else if (raw instanceof ArrayBuffer) text = Buffer.from(raw).toString('utf8');
  else return { ok: false, error: 'unsupported frame type' };
  if (text.length > maxBytes) return { ok: false, error: 'message too big' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { ok: false, error: first ? `${first.path.join('.') || 'message'}: ${first.message}` : 'invalid message' };
  }
  return { ok: true, value: parsed.data };
}
