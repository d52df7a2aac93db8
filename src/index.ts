// The package's programmatic entry (`main` in package.json): what a program embedding Switchboard
// uses to run a server, a client agent or a control, without going through the CLI.

// A server: a store (on disk or in memory), a logger, then `new SwitchboardServer({...}).start()`.
export { SwitchboardServer, type ServerOptions } from './server/server.js';
export { ConfigStore, ConfigError } from './store/configStore.js';
export { createLogger, silentLogger, type Logger } from './server/logger.js';

// A client agent: an identity, a key and what it allows (nothing unless told).
export { ClientAgent, type ClientOptions, type ClientStatus, type StatusDetail } from './client/agent.js';
export { newIdentity, loadOrCreateIdentity, type ClientIdentity } from './client/identity.js';
export type { LocalPolicy } from './client/policy.js';

// A control: browse clients, open sessions, forward ports, run commands; or the REST API.
export { ControlClient, type ControlOptions } from './control/controlClient.js';
export { startForward, parseForwardSpec, type ForwardSpec } from './control/forward.js';
export { runExec, type ExecStreams } from './control/exec.js';
export { ApiClient } from './control/apiClient.js';

// How to reach a server, and what errors look like.
export { plainDial, type DialOptions } from './net/dial.js';
export { ErrorCodes, SwitchboardError, type ErrorCode } from './protocol/errors.js';
export type { ClientInfo, ServerInfo, SessionTarget } from './protocol/messages.js';
