import { z } from 'zod';
import { ConfigSnapshotSchema } from './clusterMessages.js';
import { keyProof, newNonce, proofMatches } from './proof.js';
import { seal, unseal } from './sealed.js';

/**
 * Signed one-shot requests between servers (status probes for failover, the configuration
 * handback at failback, step-down, the acting primary's announcement to the members, and a member's
 * word to the secondary that it lost the primary). Each
 * request carries a fresh nonce and a timestamp under an HMAC of the cluster secret, and so does
 * its reply, bound to the request's nonce: neither a process without the secret nor a replay of an
 * old message gets anywhere. A reply's result is also sealed (sealed.ts) under the secret and the
 * nonce: a configuration snapshot is read by the caller alone, whatever path the call took.
 */
export const RPC_PATH = '/v1/cluster/rpc';
const MAX_AGE_MS = 30_000;

export const RpcMethod = z.enum(['status', 'snapshot', 'step-down', 'acting-primary', 'primary-lost']);
export type RpcMethod = z.infer<typeof RpcMethod>;

const epoch = z.number().int().min(0);

/**
 * Each call's parameters and result, one schema each, checked by both ends: the answering server
 * parses the parameters before its role sees them, the caller parses the result before it uses it.
 */
export const RpcCalls = {
  /** Is the server acting as primary, at what epoch, and does it reach the primary (failover, failback)? */
  status: {
    params: z.object({}),
    result: z.object({
      acting: z.boolean(),
      epoch,
      reachesPrimary: z.boolean(),
      configVersion: z.number().int().min(0).optional(),
    }),
  },
  /** The secondary's configuration, for the returning primary's failback. */
  snapshot: { params: z.object({}), result: ConfigSnapshotSchema },
  /** The returning primary asks the acting secondary to step down, at a higher epoch. */
  'step-down': { params: z.object({ epoch }), result: z.object({ steppedDown: z.boolean() }) },
  /** A server that became the acting primary tells the members (announcement.ts). */
  'acting-primary': {
    params: z.object({ epoch }),
    result: z.object({ action: z.enum(['relink', 'ignore']), reason: z.string() }),
  },
  /**
   * A member tells the secondary it has just lost its link to the primary (lossReports.ts): what
   * the secondary's election would ask it. A server that does not know the call refuses it; the
   * member does not mind.
   */
  'primary-lost': { params: z.object({ epoch }), result: z.object({}) },
} satisfies Record<RpcMethod, { params: z.ZodType; result: z.ZodType }>;

export type RpcParams<M extends RpcMethod> = z.infer<(typeof RpcCalls)[M]['params']>;
export type RpcResult<M extends RpcMethod> = z.infer<(typeof RpcCalls)[M]['result']>;
export type StatusResult = RpcResult<'status'>;

/** A call as the answering server's role receives it: the method with its parameters parsed. */
export type RpcCall = { [M in RpcMethod]: { method: M; params: RpcParams<M>; from: string } }[RpcMethod];

/** Parses a request's parameters against its method's schema; undefined if they do not fit. */
export function parseCall(method: RpcMethod, params: unknown, from: string): RpcCall | undefined {
  const parsed = RpcCalls[method].params.safeParse(params);
  return parsed.success ? ({ method, params: parsed.data, from } as RpcCall) : undefined;
}

export const RpcRequest = z.object({
  method: RpcMethod,
  params: z.record(z.string(), z.unknown()),
  from: z.string().max(260),
  nonce: z.string().max(128),
  at: z.number(),
  proof: z.string().max(128),
});
export type RpcRequest = z.infer<typeof RpcRequest>;

export const RpcReply = z.object({
  /** The result, sealed: openReply() reads it. */
  sealed: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  proof: z.string().max(128),
});
export type RpcReply = z.infer<typeof RpcReply>;

function requestText(r: Omit<RpcRequest, 'proof'>): string {
  return JSON.stringify([r.method, r.params, r.from, r.at]);
}

export function signRequest(
  secret: string,
  method: RpcMethod,
  params: Record<string, unknown>,
  from: string,
  now: number,
): RpcRequest {
  const unsigned = { method, params, from, nonce: newNonce(), at: now };
  return { ...unsigned, proof: keyProof(secret, 'cluster-rpc', unsigned.nonce, requestText(unsigned)) };
}

/**
 * The nonces of accepted requests, kept for as long as a request could still pass the age check
 * (its `at` may be up to 30 s ahead, then valid 30 s more), so a captured request cannot be replayed
 * inside that window either. Only verified requests are recorded, so only a holder of the secret can
 * fill it; past `max`, the oldest are forgotten. Pure: the clock is passed in.
 */
export class SeenNonces {
  private readonly until = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  /** True the first time a nonce is offered; false for a replay within the window. */
  first(nonce: string, now: number): boolean {
    for (const [seen, until] of this.until) {
      if (until > now && this.until.size <= this.max) break;
      this.until.delete(seen);
    }
    if (this.until.has(nonce)) return false;
    this.until.set(nonce, now + 2 * MAX_AGE_MS);
    return true;
  }
}

export function verifyRequest(secret: string, request: RpcRequest, now: number): string | undefined {
  if (Math.abs(now - request.at) > MAX_AGE_MS) return 'request too old (are the clocks in step?)';
  let text: string;
  try {
    text = requestText(request);
  } catch {
    // JSON.stringify throws on params nested a few thousand deep (a 10 KB body): refuse, never throw.
    return 'malformed request';
  }
  const expected = keyProof(secret, 'cluster-rpc', request.nonce, text);
  return proofMatches(expected, request.proof) ? undefined : 'cluster secret not accepted';
}

const REPLY_PURPOSE = 'switchboard-cluster-rpc-reply';

function replyText(reply: Omit<RpcReply, 'proof'>): string {
  return JSON.stringify([reply.sealed ?? null, reply.error ?? null]);
}

/** A reply to the request with this nonce: its result sealed, then the whole signed. */
export function signReply(
  secret: string,
  nonce: string,
  reply: { result?: unknown; error?: RpcReply['error'] },
): RpcReply {
  const unsigned = {
    ...('result' in reply ? { sealed: seal(secret, nonce, REPLY_PURPOSE, reply.result) } : {}),
    ...(reply.error ? { error: reply.error } : {}),
  };
  return { ...unsigned, proof: keyProof(secret, 'cluster-rpc-reply', nonce, replyText(unsigned)) };
}

export function verifyReply(secret: string, nonce: string, reply: RpcReply): boolean {
  return proofMatches(keyProof(secret, 'cluster-rpc-reply', nonce, replyText(reply)), reply.proof);
}

/** The result of a verified reply (undefined for an error); throws if it does not open. */
export function openReply(secret: string, nonce: string, reply: RpcReply): unknown {
  return reply.sealed === undefined ? undefined : unseal(secret, nonce, REPLY_PURPOSE, reply.sealed);
}
