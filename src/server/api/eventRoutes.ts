import { ErrorCodes } from '../../protocol/errors.js';
import { ApiError } from './apiError.js';
import { API_HEADERS } from './httpIo.js';
import type { HubEvent } from './eventHub.js';
import { EventStream } from './eventStream.js';
import { STREAMED, type ApiDeps, type Route } from './route.js';

const KEEPALIVE_MS = 20_000;
/**
 * Live streams one operator may hold open on one server (a console tab holds one): each may hold a
 * backlog of up to 8 MB while it is behind (eventStream.ts), so their number is bounded too. A
 * console refused one asks again with backoff (src/console/live.ts).
 */
export const MAX_STREAMS_PER_OPERATOR = 16;

export function formatEvent(event: HubEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

type ClientEvent = Exclude<HubEvent, { type: 'servers' }>;

/** A `clients` event: client changes in the order they happened, `{"up": client}` or `{"down": {id, server}}`. */
export function formatClientBatch(events: readonly ClientEvent[]): string {
  const changes = events.map((e) => (e.type === 'client-up' ? { up: e.data } : { down: e.data }));
  return `event: clients\ndata: ${JSON.stringify(changes)}\n\n`;
}

/**
 * What a `?batch=1` stream sends: the client changes of one turn of the event loop as one
 * `clients` event, anything else as it comes, after the changes before it. A browser pays tens of
 * microseconds of its own per event it dispatches, before any script: 12,000 clients listed again
 * at once (a member re-linking) were 12,000 events, and a main-thread task of a third of a second.
 */
export function batchingClientChanges(write: (text: string) => void): (event: HubEvent) => void {
  let batch: ClientEvent[] = [];
  const flush = () => {
    if (batch.length > 0) write(formatClientBatch(batch));
    batch = [];
  };
  return (event) => {
    if (event.type === 'servers') {
      flush();
      return write(formatEvent(event));
    }
    if (batch.length === 0) setImmediate(flush);
    batch.push(event);
  };
}

/**
 * GET /events: Server-Sent Events for the console (`client-up`, `client-down`, `servers`; with
 * `?batch=1`, `clients` instead of the first two), filtered by the caller's keys. The session must
 * stay valid: when it ends, so does the stream.
 */
export function eventRoutes(deps: ApiDeps): Route[] {
  /** Open streams by operator name. */
  const held = new Map<string, number>();
  return [
    {
      method: 'GET',
      path: '/events',
      access: 'operator',
      async handle(call) {
        const { res, who } = call;
        const operator = who.operator.name;
        const streams = held.get(operator) ?? 0;
        if (streams >= MAX_STREAMS_PER_OPERATOR)
          throw new ApiError(
            429,
            ErrorCodes.TOO_MANY_SESSIONS,
            `operator ${operator} holds ${streams} live event streams on this server, the most it may; close one (a console tab) first`,
          );
        held.set(operator, streams + 1);
        res.writeHead(200, {
          ...API_HEADERS,
          'content-type': 'text/event-stream; charset=utf-8',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write('retry: 2000\n\n');
        const role = who.operator.role;
        const keys = JSON.stringify(who.operator.keys);
        const stream = new EventStream(res);
        const close = () => stream.end();
        const write = (text: string) => stream.write(text);
        const send =
          call.url.searchParams.get('batch') === '1'
            ? batchingClientChanges(write)
            : (event: HubEvent) => write(formatEvent(event));
        const unsubscribe = deps.hub.subscribe({
          keys: who.keys,
          send,
          alive() {
            if (!deps.sessions.live(who.token, deps.now())) return false;
            // A secondary that stepped down (the primary is back) serves no more events: the console,
            // reconnecting, hears 421 and follows the primary.
            if (!deps.ctx.behaviour.acting().acting) return false;
            // A change of role or keys changes what this stream may carry: end it, the console reconnects.
            const now = deps.ctx.store.operators().find((o) => o.name === who.operator.name);
            return now !== undefined && now.role === role && JSON.stringify(now.keys) === keys;
          },
          close,
        });
        const keepalive = setInterval(() => stream.write(': keepalive\n\n'), KEEPALIVE_MS);
        keepalive.unref();
        res.once('close', () => {
          clearInterval(keepalive);
          unsubscribe();
          const left = (held.get(operator) ?? 1) - 1;
          if (left > 0) held.set(operator, left);
          else held.delete(operator);
        });
        return STREAMED;
      },
    },
  ];
}
