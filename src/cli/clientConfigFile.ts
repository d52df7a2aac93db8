import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { z } from 'zod';

/**
 * The client's configuration file (`switchboard client --config FILE`): TOML whose keys are the
 * client's long flag names, so that an administrator can send one file to every managed machine.
 * Parsing, checking and merging are pure: the command reads the file and passes its text here.
 */

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
const port = z.number().int().min(1).max(65535);

const ClientConfigSchema = z
  .object({
    gateway: z.string().min(1),
    secondary: z.string().min(1),
    key: z.string().min(1),
    'key-file': z.string().min(1),
    name: z.string().min(1),
    group: z.string(),
    state: z.string().min(1),
    'allow-forward': z.array(port),
    'allow-exec': z.boolean(),
    'allow-files': z.string().min(1),
    'allow-shell': z.boolean(),
    proxy: z.string().min(1),
    tls: z.boolean(),
    'tls-fingerprint': z.string().min(1),
    ca: z.string().min(1),
    insecure: z.boolean(),
    'log-level': z.enum(LOG_LEVELS),
  })
  .partial()
  .strict();

export type ClientConfig = z.infer<typeof ClientConfigSchema>;

/** The client's flags as commander names them (camelCase), the shape both the file and the command line reduce to. */
export interface ClientFlagValues {
  gateway?: string;
  secondary?: string;
  key?: string;
  keyFile?: string;
  name?: string;
  group?: string;
  state?: string;
  allowForward?: string;
  allowExec?: boolean;
  allowFiles?: string;
  allowShell?: boolean;
  proxy?: string;
  tls?: boolean;
  tlsFingerprint?: string;
  ca?: string;
  insecure?: boolean;
  logLevel?: string;
}

/** A configuration file that cannot be used; the message names the file, the line when known, and the key. */
export class ClientConfigError extends Error {
  readonly code = 'SB_ERR_CONFIG';
}

/** The 1-based line where `key = ...` is written, for messages about a key the parser accepted. */
function lineOf(text: string, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // `key = ...`, or a table header `[key]` (the file has no tables: one is an unknown key).
  const pattern = new RegExp(`^\\s*(?:\\[+\\s*)?(?:${escaped}|"${escaped}"|'${escaped}')\\s*(?:=|\\])`);
  const index = text.split('\n').findIndex((line) => pattern.test(line));
  return index === -1 ? undefined : index + 1;
}

function where(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

/** Parses and checks a configuration file's text; relative paths in it are taken from the file's directory. */
export function parseClientConfig(file: string, text: string): ClientConfig {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError)
      throw new ClientConfigError(`${where(file, err.line)}: not valid TOML: ${err.message.split('\n')[0]}`);
    throw err;
  }
  const checked = ClientConfigSchema.safeParse(raw);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const key = issue.code === 'unrecognized_keys' ? issue.keys[0]! : String(issue.path[0] ?? '');
    const known = Object.keys(ClientConfigSchema.shape).join(', ');
    const what =
      issue.code === 'unrecognized_keys'
        ? `unknown key "${key}" (known keys: ${known})`
        : `key "${key}": ${issue.message}`;
    throw new ClientConfigError(`${where(file, lineOf(text, key))}: ${what}`);
  }
  const config = checked.data;
  if (config.key !== undefined && config['key-file'] !== undefined) {
    throw new ClientConfigError(`${where(file, lineOf(text, 'key-file'))}: give "key" or "key-file", not both`);
  }
  const base = dirname(file);
  const path = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    'key-file': path(config['key-file']),
    state: path(config.state),
    ca: path(config.ca),
    'allow-files': path(config['allow-files']),
  };
}

/** The file's values in the flags' shape (keys absent from the file stay absent). */
function asFlags(config: ClientConfig): ClientFlagValues {
  const values: ClientFlagValues = {
    gateway: config.gateway,
    secondary: config.secondary,
    key: config.key,
    keyFile: config['key-file'],
    name: config.name,
    group: config.group,
    state: config.state,
    allowForward: config['allow-forward']?.join(','),
    allowExec: config['allow-exec'],
    allowFiles: config['allow-files'],
    allowShell: config['allow-shell'],
    proxy: config.proxy,
    tls: config.tls,
    tlsFingerprint: config['tls-fingerprint'],
    ca: config.ca,
    insecure: config.insecure,
    logLevel: config['log-level'],
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as ClientFlagValues;
}

/**
 * The flags the client runs with: a flag given on the command line wins over the file, the file
 * over the defaults. The key is one choice: `--key` or `--key-file` on the command line replaces
 * both of the file's.
 */
export function mergeClientFlags(
  defaults: ClientFlagValues,
  file: ClientConfig | undefined,
  commandLine: ClientFlagValues,
): ClientFlagValues {
  const fromFile = file ? asFlags(file) : {};
  if (commandLine.key !== undefined || commandLine.keyFile !== undefined) {
    delete fromFile.key;
    delete fromFile.keyFile;
  }
  return { ...defaults, ...fromFile, ...commandLine };
}
