import { openFarEnd } from '../controlOps.js';
import { operatorBudgets } from '../sessionBudget.js';
import { collectExec, DEFAULT_EXEC_LIMITS } from './execCollector.js';
import type { ApiDeps, Route } from './route.js';
import { ExecBody } from './schemas.js';

/**
 * Runs a short command on a client the caller may reach, and answers with its output and exit code.
 * The session goes the same way as `control exec` (through the member holding the client, checked by
 * the client's own policy); only the output is bounded, since it comes back in one JSON answer.
 */
export function execRoutes(deps: ApiDeps): Route[] {
  const { ctx } = deps;
  // One budget per operator name: many tokens of one operator share it.
  const budgetFor = operatorBudgets();
  return [
    {
      method: 'POST',
      path: '/exec',
      access: 'operator',
      async handle(call) {
        const body = await call.body(ExecBody);
        const operator = call.who.operator.name;
        const target = { kind: 'exec' as const, command: body.command };
        const limits = { ...DEFAULT_EXEC_LIMITS, timeoutMs: body.timeoutMs ?? DEFAULT_EXEC_LIMITS.timeoutMs };
        const slot = budgetFor(operator).take();
        let releasePlace = () => undefined as void;
        try {
          releasePlace = ctx.operatorSessions.take(operator, 'exec');
          const { entry, far } = await openFarEnd(ctx, body.client, call.who.keys, target, operator);
          slot.claimed(); // the API reads the far end itself: there is no ticket to wait for
          // Counted among the server's active sessions and audited (session.closed) like any other.
          ctx.broker.track(far, { clientId: entry.id, clientName: entry.name, server: entry.server, operator, target });
          // A caller that hangs up ends the session, which stops the command on the client.
          const hangUp = () => far.destroy();
          call.res.once('close', hangUp);
          const startedAt = deps.now();
          const result = await collectExec(far, limits).finally(() => call.res.off('close', hangUp));
          ctx.store.audit(operator, 'exec', {
            client: entry.id,
            clientName: entry.name,
            server: entry.server,
            command: body.command,
            code: result.code,
            signal: result.signal,
            truncated: result.truncated,
            timedOut: result.timedOut,
            bytesFromClient: Buffer.byteLength(result.stdout) + Buffer.byteLength(result.stderr),
            durationMs: deps.now() - startedAt,
          });
          return { client: entry.id, ...result };
        } finally {
          releasePlace();
          slot.release();
        }
      },
    },
  ];
}
