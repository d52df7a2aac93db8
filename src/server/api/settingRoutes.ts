import type { ApiDeps, Route } from './route.js';
import { SettingBody } from './schemas.js';

/** Cluster-wide settings and the whole configuration at a glance (`config show --json`), for admins. */
export function settingRoutes(deps: ApiDeps): Route[] {
  return [
    {
      method: 'PUT',
      path: '/settings/:name',
      access: 'admin',
      async handle(call) {
        const { value } = await call.body(SettingBody);
        return deps.configAs(call.who.operator.name).setSetting(call.params.name!, value);
      },
    },
    {
      method: 'GET',
      path: '/config',
      access: 'admin',
      handle: (call) => deps.configAs(call.who.operator.name).show(),
    },
  ];
}
