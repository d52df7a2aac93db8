import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  chmodSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';

/**
 * Gateway profiles for controls (the seed's "Internet Gateways"): a named gateway with its
 * secondary, key, operator, TLS and proxy settings, and the session token `control login` kept
 * for it. One owner-only JSON file per profile under profiles/, one per session under sessions/,
 * in the user's configuration directory. A file that another user could read or change is refused:
 * a profile may hold a key, a session file a token that stands for the operator's password.
 */

export const Profile = z.strictObject({
  gateway: z.string().min(1).max(1024),
  secondary: z.string().max(1024).optional(),
  key: z.string().max(1024).optional(),
  keyFile: z.string().max(4096).optional(),
  operator: z.string().max(128).optional(),
  tls: z.boolean().optional(),
  tlsFingerprint: z.string().max(256).optional(),
  ca: z.string().max(4096).optional(),
  insecure: z.boolean().optional(),
  proxy: z.string().max(2048).optional(),
});
export type Profile = z.infer<typeof Profile>;

export const SavedSession = z.strictObject({
  token: z.string().min(16).max(128),
  operator: z.string().max(128),
  /** The server that issued it: sessions live in the acting primary's memory only. */
  gateway: z.string().max(1024),
  expiresAt: z.string().max(64),
});
export type SavedSession = z.infer<typeof SavedSession>;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkProfileName(name: string): string {
  if (!NAME.test(name))
    throw new SwitchboardError(
      ErrorCodes.CONFIG,
      `bad profile name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-', at most 64`,
    );
  return name;
}

/** `$XDG_CONFIG_HOME/switchboard`, else `~/.config/switchboard` (the XDG rule: a relative XDG_CONFIG_HOME is ignored). */
export function profileDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'switchboard');
  if (env.HOME && isAbsolute(env.HOME)) return join(env.HOME, '.config', 'switchboard');
  throw new SwitchboardError(
    ErrorCodes.CONFIG,
    'neither XDG_CONFIG_HOME nor HOME is set: there is no directory for profiles',
  );
}

/** Reads a file only if it is the caller's own and nobody else may read or change it. */
function readPrivate(file: string): string | undefined {
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink planted in place of the file is refused, not followed.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SwitchboardError(ErrorCodes.CONFIG, `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (process.getuid && stat.uid !== process.getuid())
      throw new SwitchboardError(ErrorCodes.CONFIG, `${file} belongs to another user (uid ${stat.uid}): refused`);
    if (stat.mode & 0o077) {
      throw new SwitchboardError(
        ErrorCodes.CONFIG,
        `${file} may be read or changed by others (mode ${(stat.mode & 0o777).toString(8)}): refused; check it, then chmod 600 ${file}`,
      );
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Writes a file owner-only, whole or not at all (a temporary file renamed into place). */
function writePrivate(dir: string, file: string, text: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, text, { mode: 0o600, flag: 'wx' });
  renameSync(partial, file);
}

function parsed<T>(schema: z.ZodType<T>, file: string, text: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SwitchboardError(ErrorCodes.CONFIG, `${file}: not JSON (${(err as Error).message})`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new SwitchboardError(
      ErrorCodes.CONFIG,
      `${file}: ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}

export class ProfileStore {
  private readonly profiles: string;
  private readonly sessions: string;

  constructor(readonly dir: string) {
    this.profiles = join(dir, 'profiles');
    this.sessions = join(dir, 'sessions');
  }

  private profileFile(name: string): string {
    return join(this.profiles, `${checkProfileName(name)}.json`);
  }

  private sessionFile(name: string): string {
    return join(this.sessions, `${checkProfileName(name)}.json`);
  }

  names(): string[] {
    try {
      return readdirSync(this.profiles)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -'.json'.length))
        .filter((n) => NAME.test(n))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  find(name: string): Profile | undefined {
    const file = this.profileFile(name);
    const text = readPrivate(file);
    return text === undefined ? undefined : parsed(Profile, file, text);
  }

  get(name: string): Profile {
    const profile = this.find(name);
    if (!profile)
      throw new SwitchboardError(ErrorCodes.CONFIG, `no profile ${name} (switchboard control profile list)`);
    return profile;
  }

  add(name: string, profile: Profile, replace = false): void {
    if (!replace && this.find(name))
      throw new SwitchboardError(ErrorCodes.CONFIG, `profile ${name} exists; remove it first or add it with --replace`);
    writePrivate(this.profiles, this.profileFile(name), JSON.stringify(Profile.parse(profile), null, 2) + '\n');
    // A session kept for the profile's former gateway or operator is not this profile's.
    if (replace) this.dropSession(name);
  }

  /** Removes a profile and its session; false when there was no such profile. */
  remove(name: string): boolean {
    const file = this.profileFile(name);
    // Not read first: a profile refused for its mode must still be removable.
    const existed = existsSync(file);
    rmSync(file, { force: true });
    this.dropSession(name);
    return existed;
  }

  /** The session kept for a profile, expired or not (callers decide what an expired one means). */
  session(name: string): SavedSession | undefined {
    const file = this.sessionFile(name);
    const text = readPrivate(file);
    return text === undefined ? undefined : parsed(SavedSession, file, text);
  }

  saveSession(name: string, session: SavedSession): void {
    writePrivate(this.sessions, this.sessionFile(name), JSON.stringify(SavedSession.parse(session), null, 2) + '\n');
  }

  dropSession(name: string): void {
    rmSync(this.sessionFile(name), { force: true });
  }
}

/** Whether a kept session is past its expiry (by this machine's clock; the server has the last word). */
export function sessionExpired(session: SavedSession, now: number): boolean {
  const at = Date.parse(session.expiresAt);
  return !Number.isFinite(at) || now >= at;
}
