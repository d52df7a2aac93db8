#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=67108864 node --initial-old-space-size=64
// The shebang gives node the settings that make relaying fast (src/cli/nodeRuntime.ts says why);
// started any other way (`node bin/switchboard.js`, a service manager), the entry starts itself
// again once with them, so that the relay's speed does not depend on how it was started.
import { fileURLToPath } from 'node:url';
import { clearRespawnMarker, respawn, shouldRespawn } from '../dist/src/cli/nodeRuntime.js';

if (shouldRespawn(process.execArgv, process.env)) respawn(fileURLToPath(import.meta.url));
else {
  clearRespawnMarker(process.env);
  await import('../dist/src/cli/main.js');
}
