import { ErrorCodes } from '../protocol/errors.js';

/**
 * What a sysadmin must change when the client is refused for a reason that retrying will not cure
 * (a wrong key, a refused identity, a certificate that does not match): the client keeps retrying,
 * but its log says what to fix. Transient failures (server down, busy) get no advice.
 */
const ADVICE: Partial<Record<string, string>> = {
  [ErrorCodes.BAD_KEY]:
    'the server does not accept this key: set key-file / key (--key-file FILE or --key KEY) to a key the server lists (switchboard config key list)',
  [ErrorCodes.BAD_IDENTITY]:
    "the server refused this client's identity: the state directory (--state) holds a damaged identity; move it away and restart the client to make a new one",
  // Also seen for a minute after a network blip, while the server still holds the old connection.
  [ErrorCodes.DUPLICATE_CLIENT]:
    'another client with the same id is connected; if this lasts, two machines share a state directory (--state): give each its own, never copy one',
  [ErrorCodes.TLS_MISMATCH]:
    "the server's TLS certificate is not the trusted one: set tls-fingerprint (--tls-fingerprint) to the fingerprint the server prints at start, or ca (--ca) to the CA that signed its certificate",
  [ErrorCodes.DEVICE_REVOKED]:
    'an admin revoked this device: ask them to unrevoke it (switchboard config device unrevoke ID), or retire the machine',
  [ErrorCodes.KEY_ROTATED]:
    "the key's secret was rotated and the old one retired: put the key's new secret in key-file / key (switchboard config key list shows it)",
  [ErrorCodes.TLS_REQUIRED]:
    'the server accepts TLS only: give the gateway as https://HOST:PORT, with --tls-fingerprint or --ca',
};

export function failureAdvice(code: string | undefined): string | undefined {
  return code === undefined ? undefined : ADVICE[code];
}
