import { z } from 'zod';
import { MAX_BROWSE_PAGE } from '../../protocol/messages.js';

/**
 * Every body and query the REST API accepts. Strict objects: an unknown field is a mistake worth
 * reporting (a typo in `secondary` must not silently do nothing).
 */
const name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits or . _ @ - only');
const password = z.string().min(1).max(1024);
const role = z.enum(['admin', 'operator']);
const weight = z.number().int().min(0).max(1_000_000);
const address = z.string().min(3).max(260);

export const LoginBody = z.strictObject({
  operator: z.string().min(1).max(128),
  password,
  totp: z.string().max(16).optional(),
});

/** A console handover ticket (handoverTicket.ts): base64url, a few hundred characters at most. */
export const HandoverBody = z.strictObject({
  ticket: z
    .string()
    .max(1024)
    .regex(/^[A-Za-z0-9_-]+$/),
});

/** `q` is the search text (`filter` is its older name); `limit` asks for one page (see BrowseParams). */
export const ClientsQuery = z.strictObject({
  group: z.string().max(128).optional(),
  filter: z.string().max(256).optional(),
  q: z.string().max(256).optional(),
  state: z.string().max(32).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_BROWSE_PAGE).optional(),
  cursor: z.string().max(512).optional(),
});

export const AuditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const KeyBody = z.strictObject({
  name,
  value: z.string().min(8).max(256).optional(),
});

export const OperatorBody = z.strictObject({
  name,
  role: role.default('operator'),
  keys: z.array(name).max(256).default([]),
  password,
});

export const OperatorPatchBody = z.strictObject({
  role: role.optional(),
  keys: z.array(name).max(256).optional(),
  password: password.optional(),
});

export const ServerBody = z.strictObject({
  address,
  weight: weight.default(1000),
  enabled: z.boolean().default(true),
  secondary: z.boolean().default(false),
});

export const ServerPatchBody = z.strictObject({
  weight: weight.optional(),
  enabled: z.boolean().optional(),
  secondary: z.boolean().optional(),
});

export const SettingBody = z.strictObject({
  value: z.union([z.string().max(64), z.number(), z.boolean()]),
});

export const MAX_EXEC_TIMEOUT_MS = 60_000;

export const ExecBody = z.strictObject({
  client: z.string().min(1).max(128),
  // The same bounds as an exec session's command on the control channel.
  command: z.array(z.string().max(4096)).min(1).max(256),
  timeoutMs: z.number().int().min(100).max(MAX_EXEC_TIMEOUT_MS).optional(),
});

/** A query string as a plain object (repeated names: the last wins), for the schemas above. */
export function queryObject(url: URL): Record<string, string> {
  return Object.fromEntries(url.searchParams);
}
