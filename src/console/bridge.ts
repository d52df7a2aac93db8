/**
 * The console's way to a relayed session (src/server/api/sessionBridge.ts): a WebSocket to the
 * server that served the page, authenticated by the console's own session cookie; its binary
 * messages are the session's bytes.
 */
export function bridgeUrl(params: Record<string, string | number>): string {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/bridge?${query.toString()}`;
}

/** Why a bridged session closed, in words for the page (the close codes are src/protocol/closeCodes.ts's). */
export function closeText(code: number, reason: string): string {
  if (code === 4040) return `The session could not go on: ${reason}`;
  if (code === 4030) return `The session was ended: ${reason}`;
  if (code === 1000) return 'The session ended.';
  return `The connection to the server was lost (${code}${reason ? `: ${reason}` : ''}).`;
}
