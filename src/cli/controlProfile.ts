import { ApiClient } from '../control/apiClient.js';
import { ControlClient, type ControlOptions } from '../control/controlClient.js';
import { profileDir, ProfileStore, sessionExpired, type Profile, type SavedSession } from '../control/profileStore.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { dialOptions, gatewayAddress, readKey, readPassword, type DialFlags } from './common.js';
import { VouchedPins } from '../net/pins.js';

/**
 * How a control command finds its gateway and credentials: its flags over the named profile's,
 * and, when no password is given, the session token `control --profile NAME login` kept.
 */

export interface ControlFlags extends DialFlags {
  gateway?: string;
  secondary?: string;
  key?: string;
  keyFile?: string;
  operator?: string;
  passwordEnv?: string;
  passwordStdin?: boolean;
  totp?: string;
  profile?: string;
}

/** The profile's settings with the command line's over them (a flag given wins). */
export function withProfile(flags: ControlFlags, profile: Profile | undefined): ControlFlags {
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  return { ...profile, ...given };
}

export interface ResolvedControl {
  options: ControlOptions;
  /** Set when the control logs in with a kept session token. */
  session?: { profile: string; store: ProfileStore; saved: SavedSession };
}

function relogin(profile: string): string {
  return `log in again: switchboard control --profile ${profile} login`;
}

function openProfile(flags: ControlFlags, env: NodeJS.ProcessEnv): { store?: ProfileStore; merged: ControlFlags } {
  if (!flags.profile) return { merged: flags };
  const store = new ProfileStore(profileDir(env));
  return { store, merged: withProfile(flags, store.get(flags.profile)) };
}

function gatewayOf(merged: ControlFlags): string {
  if (!merged.gateway)
    throw new SwitchboardError(ErrorCodes.CONFIG, 'a gateway is required: --gateway HOST:PORT or --profile NAME');
  return merged.gateway;
}

export async function resolveControl(
  flags: ControlFlags,
  env: NodeJS.ProcessEnv,
  useStdinForPassword = true,
): Promise<ResolvedControl> {
  const { store, merged } = openProfile(flags, env);
  const gateway = gatewayAddress(gatewayOf(merged));
  if (merged.passwordStdin && !useStdinForPassword)
    throw new Error("--password-stdin cannot be used with exec (stdin is the command's input); use --password-env");
  const options: ControlOptions = {
    gateway: gateway.address,
    secondary: merged.secondary ? gatewayAddress(merged.secondary).address : undefined,
    key: readKey(merged),
    operator: merged.operator,
    password: await readPassword(merged, env),
    totp: merged.totp,
    dial: dialOptions(merged, gateway.tls),
    vouched: new VouchedPins(),
  };
  // A password given on this command wins over a kept session; so does another operator's name.
  if (options.password !== undefined || !store || !flags.profile) return { options };
  const saved = store.session(flags.profile);
  if (!saved || (options.operator !== undefined && options.operator !== saved.operator)) return { options };
  if (sessionExpired(saved, Date.now())) {
    store.dropSession(flags.profile);
    throw new SwitchboardError(
      ErrorCodes.LOGIN_REQUIRED,
      `the session of profile ${flags.profile} expired at ${saved.expiresAt}; ${relogin(flags.profile)}`,
    );
  }
  return {
    options: { ...options, operator: saved.operator, token: saved.token },
    session: { profile: flags.profile, store, saved },
  };
}

/**
 * Connects a control. With a kept token, the expiry the server answers is written back (each use
 * extends an idle session), and a token the server no longer knows is deleted with a clear word.
 */
export async function connectResolved(resolved: ResolvedControl): Promise<ControlClient> {
  const { session } = resolved;
  try {
    const client = await ControlClient.connect(resolved.options);
    if (session && client.tokenExpiresAt)
      session.store.saveSession(session.profile, { ...session.saved, expiresAt: client.tokenExpiresAt });
    return client;
  } catch (err) {
    if (session && (err as SwitchboardError).code === ErrorCodes.LOGIN_REQUIRED) {
      session.store.dropSession(session.profile);
      throw new SwitchboardError(
        ErrorCodes.LOGIN_REQUIRED,
        `the session of profile ${session.profile} has ended (${(err as Error).message}); ${relogin(session.profile)}`,
      );
    }
    throw err;
  }
}

/** Reads a password from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return (finish(), resolve(text));
        if (ch === '\u0003' || ch === '\u0004') return (finish(), reject(new Error('no password given')));
        text = ch === '\u007f' || ch === '\b' ? text.slice(0, -1) : text + ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * `control --profile NAME login`: asks the operator's password once (from --password-env, or
 * stdin: typed at a terminal without echo, or piped), logs in to the REST API of the acting
 * primary and keeps the session token, owner-only, for the next commands.
 */
export async function loginProfile(flags: ControlFlags, env: NodeJS.ProcessEnv): Promise<SavedSession> {
  if (!flags.profile)
    throw new SwitchboardError(
      ErrorCodes.CONFIG,
      'login keeps its session in a profile: switchboard control --profile NAME login',
    );
  const { store, merged } = openProfile(flags, env);
  const operator = merged.operator;
  if (!operator)
    throw new SwitchboardError(
      ErrorCodes.LOGIN_REQUIRED,
      'login needs an operator: --operator NAME (or add it to the profile)',
    );
  const password =
    (await readPassword(merged, env)) ??
    (process.stdin.isTTY
      ? await promptHidden(`Password for ${operator}: `)
      : await readPassword({ passwordStdin: true }, env));
  if (password === undefined) throw new SwitchboardError(ErrorCodes.LOGIN_REQUIRED, 'no password given');
  const gateway = gatewayAddress(gatewayOf(merged));
  const dial = dialOptions(merged, gateway.tls);
  const targets = [gateway.address, ...(merged.secondary ? [gatewayAddress(merged.secondary).address] : [])];
  const errors: Error[] = [];
  for (const target of targets) {
    try {
      const answer = await ApiClient.startSession(target, dial, { operator, password, totp: merged.totp });
      const saved: SavedSession = {
        token: answer.token,
        operator: answer.operator,
        gateway: target,
        expiresAt: answer.expiresAt,
      };
      store!.saveSession(flags.profile, saved);
      return saved;
    } catch (err) {
      errors.push(err as Error);
      // Only a server that is not there, or not the acting primary, sends us to the next one.
      const code = (err as SwitchboardError).code;
      if (code !== ErrorCodes.UNREACHABLE && code !== ErrorCodes.NOT_PRIMARY) throw err;
    }
  }
  throw new SwitchboardError(
    (errors.at(-1) as SwitchboardError).code ?? ErrorCodes.UNREACHABLE,
    errors.map((e) => e.message).join('; '),
  );
}

/** Ends a kept session on the server that issued it, and deletes it here. */
export async function logoutSession(
  store: ProfileStore,
  profile: string,
  merged: ControlFlags,
  timeoutMs = 10_000,
): Promise<'ended' | 'none'> {
  const saved = store.session(profile);
  if (!saved) return 'none';
  store.dropSession(profile);
  const dial = dialOptions(merged, gatewayAddress(gatewayOf(merged)).tls);
  try {
    await ApiClient.withToken(saved.gateway, dial, saved.token).request('POST', '/logout', undefined, timeoutMs);
  } catch (err) {
    // Already over on the server: that is what logout wanted.
    if ((err as SwitchboardError).code === ErrorCodes.LOGIN_REQUIRED) return 'ended';
    throw new SwitchboardError(
      (err as SwitchboardError).code ?? ErrorCodes.UNREACHABLE,
      `the session token is deleted here, but ${saved.gateway} could not end it (${(err as Error).message}); it expires there by ${saved.expiresAt}`,
    );
  }
  return 'ended';
}

export function logoutProfile(flags: ControlFlags, env: NodeJS.ProcessEnv): Promise<'ended' | 'none'> {
  if (!flags.profile)
    throw new SwitchboardError(
      ErrorCodes.CONFIG,
      'logout ends the session of a profile: switchboard control --profile NAME logout',
    );
  const { store, merged } = openProfile(flags, env);
  return logoutSession(store!, flags.profile, merged);
}
