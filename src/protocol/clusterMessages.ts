import { z } from 'zod';
import { SessionTarget, VouchedPinsSchema } from './messages.js';
import { keyProof } from './proof.js';
import { seal, unseal } from './sealed.js';

/**
 * Messages of the cluster link (/v1/cluster): a member's channel to the acting primary. The
 * member proves the cluster secret over the primary's nonce; the primary proves it back over the
 * member's nonce, so neither side can be impersonated by a process without the secret.
 */
const hostPort = z.string().min(3).max(260);
const id = z.string().min(1).max(128);

export const DirectoryEntrySchema = z.object({
  id,
  name: z.string().max(128),
  group: z.string().max(128),
  platform: z.string().max(128),
  address: z.string().max(128),
  server: hostPort,
  connectedAt: z.string().max(64),
  key: z.string().max(64),
  allowExec: z.boolean().optional(),
  allowForward: z.array(z.number().int().min(1).max(65535)).max(1024).optional(),
});

const KeySchema = z.object({
  name: z.string(),
  value: z.string(),
  createdAt: z.string(),
  previous: z.string().optional(),
  previousUntil: z.string().optional(),
});
const DeviceRuleSchema = z.object({
  id,
  revoked: z.boolean(),
  approved: z.boolean(),
  name: z.string().max(128).nullable(),
});
const OperatorSchema = z.object({
  name: z.string(),
  role: z.enum(['admin', 'operator']),
  keys: z.array(z.string()),
  createdAt: z.string(),
  passwordHash: z.string(),
  totpSecret: z.string().nullable(),
});
const ServerRowSchema = z.object({
  address: z.string(),
  weight: z.number().int().min(0),
  enabled: z.boolean(),
  secondary: z.boolean(),
});

export const ConfigSnapshotSchema = z.object({
  version: z.number().int().min(0),
  keys: z.array(KeySchema),
  operators: z.array(OperatorSchema),
  servers: z.array(ServerRowSchema),
  settings: z.record(z.string(), z.unknown()),
  logouts: z
    .array(z.object({ id: z.string().max(128), expiresAt: z.number() }))
    .max(20_000)
    .optional(),
  deviceRules: z.array(DeviceRuleSchema).max(1_000_000).optional(),
});

/**
 * The cluster protocol a server speaks. Version 2 seals the configuration and binds the link's
 * proofs to its TLS session, which version 1 servers neither do nor expect. Version 3 adds the
 * `directory` message, which the primary sends only to a secondary that joined with 3 or more.
 * Adjacent versions interoperate (clusterCompat.ts).
 */
export const CLUSTER_PROTOCOL_VERSION = 3;
/** The first version whose secondary takes the primary's directory (the `directory` message). */
export const DIRECTORY_FEED_VERSION = 3;

export const MemberToPrimary = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('join'),
    version: z.number().int(),
    address: hostPort,
    nonce: z.string().max(128),
    proof: z.string().max(128),
    configVersion: z.number().int().min(0),
    epoch: z.number().int().min(0),
    /**
     * The member's TLS pin, hex pairs and colons: the SHA-256 of its public key (src/net/pins.ts),
     * which the primary vouches for to clients and pins when it dials the member.
     */
    fingerprint: z
      .string()
      .regex(/^[0-9A-Fa-f:]{1,200}$/)
      .optional(),
    /** A standby of a standalone server: replicates the configuration, holds no placed clients. */
    standby: z.boolean().optional(),
    sessions: z.number().int().min(0),
  }),
  /**
   * The member's clients, sent in batches right after 'accepted' (see clientBatches). `last`: the
   * list is whole, so the primary forgets any client it still had on this member that was not in it.
   */
  z.object({ type: z.literal('clients'), entries: z.array(DirectoryEntrySchema).max(10_000), last: z.boolean() }),
  /** Clients that left and arrived since the last message (src/cluster/clientChanges.ts): departures first. */
  z.object({
    type: z.literal('client-changes'),
    down: z.array(id).max(10_000),
    up: z.array(DirectoryEntrySchema).max(10_000),
  }),
  /** One client at a time: what members before client-changes sent; still understood. */
  z.object({ type: z.literal('client-up'), entry: DirectoryEntrySchema }),
  z.object({ type: z.literal('client-down'), id }),
  z.object({ type: z.literal('load'), clients: z.number().int().min(0), sessions: z.number().int().min(0) }),
  z.object({ type: z.literal('opened'), req: z.number().int(), ticket: z.string().max(128) }),
  z.object({
    type: z.literal('open-failed'),
    req: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
]);
export type MemberToPrimary = z.infer<typeof MemberToPrimary>;

export const PrimaryToMember = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('challenge'),
    nonce: z.string().max(128),
    epoch: z.number().int().min(0),
    primary: hostPort,
  }),
  z.object({
    type: z.literal('accepted'),
    proof: z.string().max(128),
    epoch: z.number().int().min(0),
    primary: hostPort,
    secondary: hostPort.optional(),
    /** Pins of the primary and the secondary: a member pinned to the primary alone can link to the secondary after a failover. */
    pins: VouchedPinsSchema.optional(),
  }),
  /** A ConfigSnapshot, sealed: see sealConfig. */
  z.object({ type: z.literal('config'), sealed: z.string() }),
  z.object({
    type: z.literal('open'),
    req: z.number().int(),
    clientId: id,
    target: SessionTarget,
    operator: z.string().max(128),
  }),
  z.object({ type: z.literal('drain'), draining: z.boolean() }),
  /** Known devices for the secondary and standbys, sealed like the configuration: see sealDevices. */
  z.object({ type: z.literal('devices'), sealed: z.string() }),
  /**
   * The primary's directory for the secondary (protocol 3, src/cluster/directoryFeed.ts): on its
   * join the whole list in batches, the first with `reset`; then what changed, departures first.
   * A secondary that takes over lists these clients at once, while their members re-link.
   */
  z.object({
    type: z.literal('directory'),
    reset: z.boolean(),
    down: z.array(id).max(10_000),
    up: z.array(DirectoryEntrySchema).max(10_000),
  }),
]);
export type PrimaryToMember = z.infer<typeof PrimaryToMember>;

/**
 * What the link's proofs sign besides the nonce: who proves what, and the link's channel binding
 * (its TLS session's exported keying material, '' in plain), so that a proof made on one TLS
 * session fails on any other. A man in the middle that terminates TLS (a member that does not pin
 * its primary accepts its certificate) holds a session with each end, or TLS with one and plain
 * with the other: the member's proof, relayed, does not verify at the primary. Each text is a JSON
 * array, so no field's value can pass for another field or for the binding.
 */
export function memberProofText(
  join: { address: string; fingerprint?: string; standby?: boolean },
  binding: string,
): string {
  return JSON.stringify([join.address, join.fingerprint ?? null, join.standby === true, binding]);
}

export function primaryProofText(primary: string, binding: string): string {
  return JSON.stringify([primary, binding]);
}

/** What the proofs sign, so that a member's proof cannot be replayed as the primary's. */
export const CLUSTER_MEMBER_PURPOSE = 'cluster-member';
export const CLUSTER_PRIMARY_PURPOSE = 'cluster-primary';

/** The member's join proof, over the primary's challenge nonce: made by the member, checked by the primary. */
export function memberProof(
  secret: string,
  primaryNonce: string,
  join: { address: string; fingerprint?: string; standby?: boolean },
  binding: string,
): string {
  return keyProof(secret, CLUSTER_MEMBER_PURPOSE, primaryNonce, memberProofText(join, binding));
}

/** The primary's proof in 'accepted', over the member's join nonce: made by the primary, checked by the member. */
export function primaryProof(secret: string, memberNonce: string, primary: string, binding: string): string {
  return keyProof(secret, CLUSTER_PRIMARY_PURPOSE, memberNonce, primaryProofText(primary, binding));
}

const CONFIG_PURPOSE = 'switchboard-cluster-config';

/**
 * What seals a link's configuration: both nonces of its handshake (the primary's challenge, the
 * member's join), so each link has a key of its own, known only to the two ends that proved the secret.
 */
export function linkSalt(primaryNonce: string, memberNonce: string): string {
  return `${primaryNonce}\n${memberNonce}`;
}

/**
 * A configuration snapshot holds every key (and, for the secondary and standbys, the operators'
 * password hashes and TOTP seeds). It is sealed under the cluster secret (sealed.ts), so that it
 * stays secret on a plain link too, with the link's count of configurations sent so far: the
 * member takes only a higher count, so an older configuration replayed on the link is refused.
 */
export function sealConfig(
  secret: string,
  salt: string,
  seq: number,
  snapshot: z.infer<typeof ConfigSnapshotSchema>,
): string {
  return seal(secret, salt, CONFIG_PURPOSE, { seq, snapshot });
}

const SealedConfig = z.object({ seq: z.number().int().min(1), snapshot: ConfigSnapshotSchema });

/** The count and snapshot; throws if it does not open with this secret and link, or is not a snapshot. */
export function openConfig(secret: string, salt: string, sealed: string): z.infer<typeof SealedConfig> {
  return SealedConfig.parse(unseal(secret, salt, CONFIG_PURPOSE, sealed));
}

export const DeviceRecordSchema = z.object({
  id,
  name: z.string().max(128),
  group: z.string().max(128),
  key: z.string().max(64),
  platform: z.string().max(128),
  firstSeen: z.string().max(64),
  lastSeen: z.string().max(64),
  lastAddress: z.string().max(128),
  server: z.string().max(260),
  pending: z.boolean(),
});

const DEVICES_PURPOSE = 'switchboard-cluster-devices';

const SealedDevices = z.object({
  seq: z.number().int().min(1),
  /** The first batch of a whole copy: the member's table is replaced, not added to. */
  reset: z.boolean(),
  records: z.array(DeviceRecordSchema).max(100_000),
  removed: z.array(id).max(100_000),
});
export type DeviceBatch = z.infer<typeof SealedDevices>;

/**
 * Known devices go from the acting primary to the servers that may act for it one day (the
 * secondary, standbys), so that one that takes over knows every device, offline ones included.
 * Sealed under the cluster secret and the link (names and addresses of the fleet), counted like
 * configurations so that a batch replayed on the link is refused.
 */
export function sealDevices(secret: string, salt: string, batch: DeviceBatch): string {
  return seal(secret, salt, DEVICES_PURPOSE, batch);
}

export function openDevices(secret: string, salt: string, sealed: string): DeviceBatch {
  return SealedDevices.parse(unseal(secret, salt, DEVICES_PURPOSE, sealed));
}
