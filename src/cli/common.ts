import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { DialOptions } from '../net/dial.js';
import { printable } from './printable.js';
import { parsePins } from '../net/pins.js';

/** Flags every command that dials a server shares. */
export function addDialFlags(cmd: Command): Command {
  return cmd
    .option('--proxy <url>', 'reach the server through an HTTP CONNECT proxy: http://[user:pass@]HOST:PORT')
    .option('--tls', 'speak TLS to the server (implied by https:// or any of the flags below)')
    .option(
      '--tls-fingerprint <pins>',
      "trust the server by its certificate's SHA-256 fingerprint or its key's pin (spki:sha256/BASE64); several, comma-separated, for a key roll",
    )
    .option('--ca <file>', 'trust server certificates signed by this CA (PEM)')
    .option('--insecure', 'speak TLS without verifying the server (testing only)');
}

export interface DialFlags {
  proxy?: string;
  tls?: boolean;
  tlsFingerprint?: string;
  ca?: string;
  insecure?: boolean;
}

/** Splits `https://host:port` / `host:port` into the address and whether TLS was asked for. */
export function gatewayAddress(text: string): { address: string; tls: boolean } {
  const tls = text.startsWith('https://');
  return { address: text.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, ''), tls };
}

export function dialOptions(flags: DialFlags, gatewayTls = false): DialOptions {
  // A malformed pin stops the command here, in one line, rather than failing every dial.
  if (flags.tlsFingerprint) parsePins(flags.tlsFingerprint);
  return {
    tls: Boolean(gatewayTls || flags.tls || flags.tlsFingerprint || flags.ca || flags.insecure),
    fingerprint: flags.tlsFingerprint,
    ca: flags.ca ? readFlagFile(flags.ca, 'CA file (--ca)') : undefined,
    insecure: flags.insecure,
    proxy: flags.proxy,
  };
}

/** Reads a file a flag names; an unreadable one is one line that names the file and the flag. */
export function readFlagFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message;
    throw new Error(`cannot read the ${what} ${file}: ${why}`, { cause: err });
  }
}

export function readConfigFile(file: string): string {
  return readFlagFile(file, 'configuration file (--config)').toString('utf8');
}

export function readKey(flags: { key?: string; keyFile?: string }): string {
  if (flags.key) return flags.key;
  if (flags.keyFile) return readFlagFile(flags.keyFile, 'key file (--key-file)').toString('utf8').trim();
  throw new Error('a key is required: --key KEY or --key-file FILE');
}

/** A password comes from an environment variable or stdin, never from the command line. */
export async function readPassword(
  flags: { passwordEnv?: string; passwordStdin?: boolean },
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (flags.passwordEnv) {
    const value = env[flags.passwordEnv];
    if (value === undefined) throw new Error(`environment variable ${flags.passwordEnv} is not set`);
    return value;
  }
  if (flags.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  return undefined;
}

export function parsePorts(text: string | undefined): number[] {
  if (!text) return [];
  return text.split(',').map((p) => {
    const n = Number(p.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`bad port ${JSON.stringify(p)}`);
    return n;
  });
}

/** Prints rows as an aligned text table. Cells may come from anyone: each is made printable. */
export function table(headers: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printable));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
