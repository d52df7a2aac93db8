import { CloseCodes } from '../protocol/closeCodes.js';
import type { ClusterHost } from './role.js';

/**
 * A server that stops acting as primary (the secondary, when the primary takes its role back)
 * closes the controls logged in to it with NOT_PRIMARY, naming the primary. Left open, they would
 * be answered from this server's own clients alone: a `control forward` that failed over here
 * would keep hearing "no client X" for clients back on the primary. Closed, a reconnecting control
 * (src/control/reconnectingControl.ts) dials its gateway again and finds the primary.
 */
export function handControlsBack(ctx: Pick<ClusterHost, 'controls' | 'logger'>, primary: string): number {
  const controls = [...ctx.controls];
  for (const control of controls)
    control.close(CloseCodes.NOT_PRIMARY, `this server no longer answers controls; the primary ${primary} does`);
  if (controls.length) ctx.logger.info({ controls: controls.length, primary }, 'controls sent back to the primary');
  return controls.length;
}
