/**
 * Which clients a listing (browse, GET /api/v1/clients) covers. `online`, the default, is every
 * client connected now. Further states (known devices that are offline, devices pending approval)
 * plug in by adding their name here and their source in src/server/controlOps.ts (`sources`).
 */
export const CLIENT_STATES = ['online'] as const;
export type ClientState = (typeof CLIENT_STATES)[number];
export const DEFAULT_CLIENT_STATE: ClientState = 'online';

export function isClientState(text: string): text is ClientState {
  return (CLIENT_STATES as readonly string[]).includes(text);
}
