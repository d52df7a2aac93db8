import type { ConfigStore } from '../../store/configStore.js';
import { credentialStamp } from '../credentialStamp.js';
import type { SessionAuthority } from './sessionTable.js';

/** A server's session authority: stamps from its store now, logouts in its replicated store. */
export function storeAuthority(store: ConfigStore, key: Buffer): SessionAuthority {
  return {
    key,
    stampOf(operator) {
      const secrets = store.operatorSecrets(operator);
      return secrets ? credentialStamp(secrets) : undefined;
    },
    loggedOut: (id) => store.loggedOut(id),
    logOut: (id, expiresAt) => store.addLogout(id, expiresAt),
  };
}
