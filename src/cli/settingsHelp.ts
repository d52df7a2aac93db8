import { settingDefinitions, type SettingName } from '../store/settings.js';

/** What each cluster-wide setting does, for `config set --help` (a setting without a line here does not compile). */
const DESCRIPTIONS: Record<SettingName, string> = {
  'primary-weight': "the primary's share of clients, against the servers' weights (0: it holds none)",
  'require-tls': 'true: clients and controls must speak TLS',
  heartbeat: 'seconds between heartbeats to each client',
  'hello-timeout': 'seconds a new connection has to say hello',
  'lockout-attempts': "failed logins before an operator's address is locked out for a while",
  'admission-rate': 'new client connections admitted per second (bursts of twice that)',
  'max-connections-per-address': 'connections one IP address may hold',
  'device-approval': 'on: a new device (client identity) waits, pending, until an admin approves it',
};

export const SETTING_NAMES = Object.keys(settingDefinitions) as SettingName[];

/** The settings, their defaults and what they do, one per line. */
export function settingsHelp(): string {
  const width = Math.max(...SETTING_NAMES.map((n) => n.length));
  return [
    '',
    'Settings (cluster-wide, replicated):',
    ...SETTING_NAMES.map(
      (n) => `  ${n.padEnd(width)}  ${DESCRIPTIONS[n]} (default ${String(settingDefinitions[n].default)})`,
    ),
  ].join('\n');
}
