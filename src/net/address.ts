/** HOST:PORT parsing, shared by every command and the cluster: one place that knows the format. */
export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string, defaultPort?: number): HostPort {
  const trimmed = text.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else {
    const colon = trimmed.lastIndexOf(':');
    host = colon === -1 ? trimmed : trimmed.slice(0, colon);
    portText = colon === -1 ? undefined : trimmed.slice(colon + 1);
  }
  const port = portText === undefined ? defaultPort : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!host || /[\s[\]/@]/.test(host) || port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`expected HOST:PORT, got ${JSON.stringify(text)}`);
  }
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
