import { RELAY_NODE_ENV, RELAY_NODE_FLAGS } from './nodeRuntime.js';

/** What a systemd unit for a Switchboard role runs, and what it may touch. */
export interface UnitSpec {
  role: 'client' | 'server';
  /** The dedicated system user the service runs as. */
  user: string;
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of bin/switchboard.js. */
  entry: string;
  /** The command after the entry, e.g. ['client', '--config', '/etc/switchboard/client.toml']. */
  args: string[];
  /** Absolute paths the service writes (data directory, client state); everything else is read-only. */
  writablePaths: string[];
  /** A directory systemd creates under /var/lib and hands to the user (StateDirectory=), if the service uses the default one. */
  stateDirectory?: string;
  /** Listening below port 1024 needs CAP_NET_BIND_SERVICE, and only that. */
  privilegedPort: boolean;
  /** Paths the service reads (config, key, certificates): under /home or /root they need ProtectHome=read-only. */
  readPaths: string[];
}

export function unitName(role: UnitSpec['role']): string {
  return `switchboard-${role}.service`;
}

/** Open files a server may hold: one socket per client and two per relayed session. */
const SERVER_OPEN_FILES = 1_048_576;

/**
 * One word of ExecStart=: `%` (specifiers) and `$` (variables) are doubled, and a word with
 * blanks, quotes or backslashes is double-quoted with C escapes, as systemd.service(5) reads them.
 */
export function execWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

/** One path of a path list (ReadWritePaths=): specifiers doubled, quoted when it has blanks. */
function pathWord(path: string): string {
  const escaped = path.replace(/%/g, '%%');
  return /[\s"\\]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

const underHome = (p: string) => /^\/(home|root|run\/user)(\/|$)/.test(p);
const underTmp = (p: string) => /^\/(tmp|var\/tmp)(\/|$)/.test(p);

/**
 * The unit file text: restart on failure, a dedicated user, and the sandbox a relay needs no more
 * than (read-only system and home, private /tmp and devices, no new privileges, no kernel or
 * namespace changes, IPv4/IPv6/Unix sockets only). The node flags and environment that make
 * relaying fast are given here, so the entry need not start itself again (src/cli/nodeRuntime.ts).
 * No MemoryDenyWriteExecute: V8's JIT writes code.
 */
export function renderUnit(spec: UnitSpec): string {
  const exec = [spec.node, ...RELAY_NODE_FLAGS, spec.entry, ...spec.args].map(execWord).join(' ');
  const used = [spec.node, spec.entry, ...spec.writablePaths, ...spec.readPaths];
  const homeUsed = used.some(underHome);
  // A private /tmp would hide a file the service was told to use there.
  const tmpUsed = used.some(underTmp);
  const lines = [
    '# Written by `switchboard ' + spec.role + ' install`; `switchboard ' + spec.role + ' uninstall` removes it.',
    '[Unit]',
    spec.role === 'server'
      ? 'Description=Switchboard server'
      : 'Description=Switchboard client (agent of a managed machine)',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `User=${spec.user}`,
    `Group=${spec.user}`,
    ...Object.entries(RELAY_NODE_ENV).map(([name, value]) => `Environment=${name}=${value}`),
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=5',
    // SIGTERM: the server tells its clients to reconnect elsewhere before it exits.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    'UMask=0077',
    ...(spec.stateDirectory
      ? [
          `StateDirectory=${spec.stateDirectory}`,
          'StateDirectoryMode=0700',
          `WorkingDirectory=/var/lib/${spec.stateDirectory}`,
        ]
      : []),
    ...(spec.role === 'server' ? [`LimitNOFILE=${SERVER_OPEN_FILES}`] : []),
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ProtectHome=${homeUsed ? 'read-only' : 'yes'}`,
    ...(spec.writablePaths.length ? [`ReadWritePaths=${spec.writablePaths.map(pathWord).join(' ')}`] : []),
    `PrivateTmp=${tmpUsed ? 'no' : 'yes'}`,
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictSUIDSGID=yes',
    'RestrictRealtime=yes',
    'RestrictNamespaces=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    `CapabilityBoundingSet=${spec.privilegedPort ? 'CAP_NET_BIND_SERVICE' : ''}`,
    ...(spec.privilegedPort ? ['AmbientCapabilities=CAP_NET_BIND_SERVICE'] : []),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}
