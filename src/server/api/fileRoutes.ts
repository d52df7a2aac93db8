import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../protocol/errors.js';
import { putFile, readListing, receiveFile } from '../../protocol/fileWire.js';
import type { SessionTarget } from '../../protocol/messages.js';
import { openFarEnd } from '../controlOps.js';
import type { DirectoryEntry } from '../directory.js';
import { operatorBudgets } from '../sessionBudget.js';
import { ApiError } from './apiError.js';
import { API_HEADERS } from './httpIo.js';
import { STREAMED, type ApiCall, type ApiDeps, type Route } from './route.js';

/**
 * The console's Files page: list, download and upload in a client's --allow-files directory. Each
 * call is one `files` session, opened as `control cp` opens it (through the member holding the
 * client, checked by the client itself, audited with its bytes); the server only relays the bytes
 * and checks their SHA-256 on the way, so a download that does not match is cut, not delivered.
 */
export function fileRoutes(deps: ApiDeps): Route[] {
  const { ctx } = deps;
  // One budget per operator name: many tokens of one operator share it.
  const budgetFor = operatorBudgets();

  /** Runs one files session for the caller; the slot is held until `use` is done with the far end. */
  async function withSession<T>(
    call: ApiCall,
    target: SessionTarget,
    use: (far: Duplex, entry: DirectoryEntry) => Promise<T>,
  ): Promise<T> {
    const operator = call.who.operator.name;
    const slot = budgetFor(operator).take();
    try {
      const { entry, far } = await openFarEnd(ctx, call.params.client!, call.who.keys, target, operator);
      slot.claimed(); // the API reads the far end itself: there is no ticket to wait for
      const hangUp = () => far.destroy(); // a caller that goes away ends the session
      call.res.once('close', hangUp);
      try {
        return await use(far, entry);
      } finally {
        call.res.off('close', hangUp);
        far.destroy();
      }
    } finally {
      slot.release();
    }
  }

  const pathOf = (call: ApiCall) => call.url.searchParams.get('path') ?? '';
  const audit = (call: ApiCall, entry: DirectoryEntry, op: string, detail: Record<string, unknown>) =>
    ctx.store.audit(call.who.operator.name, 'files', {
      client: entry.id,
      clientName: entry.name,
      server: entry.server,
      op,
      path: pathOf(call),
      via: 'api',
      ...detail,
    });

  return [
    {
      method: 'GET',
      path: '/files/:client',
      access: 'operator',
      handle: (call) =>
        withSession(call, { kind: 'files', op: 'list', path: pathOf(call) }, async (far) => ({
          path: pathOf(call),
          ...(await readListing(far)),
        })),
    },
    {
      method: 'GET',
      path: '/files/:client/content',
      access: 'operator',
      async handle(call) {
        const name = posix.basename(pathOf(call).replace(/\\/g, '/')) || 'download';
        await withSession(call, { kind: 'files', op: 'get', path: pathOf(call) }, async (far, entry) => {
          try {
            const result = await receiveFile(far, call.res, {
              onHeader: (size) =>
                call.res.writeHead(200, {
                  ...API_HEADERS,
                  'content-type': 'application/octet-stream',
                  'content-length': String(size),
                  'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
                }),
            });
            call.res.end();
            audit(call, entry, 'get', { bytes: result.size, sha256: result.sha256 });
          } catch (err) {
            // Once the headers are out, only a cut says it failed: the browser keeps no short file.
            if (call.res.headersSent) call.res.destroy();
            else throw err;
          }
        });
        return STREAMED;
      },
    },
    {
      method: 'PUT',
      path: '/files/:client/content',
      access: 'operator',
      async handle(call) {
        const size = Number(call.req.headers['content-length']);
        if (call.req.headers['content-length'] === undefined || !Number.isSafeInteger(size) || size < 0)
          throw new ApiError(411, ErrorCodes.BAD_MESSAGE, 'an upload needs a Content-Length');
        return withSession(call, { kind: 'files', op: 'put', path: pathOf(call), size }, async (far, entry) => {
          const result = await putFile(far, call.req, size);
          audit(call, entry, 'put', { bytes: result.size, sha256: result.sha256 });
          return { path: pathOf(call), ...result };
        });
      },
    },
  ];
}
