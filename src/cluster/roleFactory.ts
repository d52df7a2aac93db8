import type { RoleFactory, RoleName } from '../server/role.js';
import { PrimaryRole } from './primaryRole.js';
import { StandbyRole } from './standbyRole.js';
import { StandingInRole } from './standingInRole.js';

/**
 * The composition point of the cluster: which role's behaviour a server started with `--role`
 * runs. The server (src/server) knows only the contract in role.ts; the command that starts it
 * (src/cli/serverCommand.ts) asks here and hands the factory over.
 *
 * A standalone server with a cluster secret runs the primary's role, so that a standby can link to
 * it; without one it is plain standalone (undefined: the server's own StandaloneRole).
 */
export function clusterRoleFactory(
  role: RoleName,
  secret: string | undefined,
  primary: string | undefined,
): RoleFactory | undefined {
  if (!secret) return undefined;
  if (role === 'primary' || role === 'standalone') return (host) => new PrimaryRole(host, { secret });
  if (!primary) return undefined;
  if (role === 'member') return (host) => new StandingInRole(host, { secret, primary });
  return (host) => new StandbyRole(host, { secret, primary });
}
