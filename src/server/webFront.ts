import type http from 'node:http';
import { API_PREFIX, ApiRouter } from './api/apiRouter.js';
import { ConsoleFiles } from './consoleFiles.js';
import type { ServerContext } from './context.js';
import { SessionBridge } from './api/sessionBridge.js';

/**
 * The plain-HTTP side of the server that people and scripts use: the REST API and the console.
 * Returns false for any other path, which the server answers itself.
 */
export class WebFront {
  readonly api: ApiRouter;
  /** The console's pages' WebSockets to relayed sessions (terminal, desktop). */
  readonly bridge: SessionBridge;
  private readonly files = new ConsoleFiles();

  constructor(ctx: ServerContext) {
    this.api = new ApiRouter(ctx);
    this.bridge = new SessionBridge(ctx, this.api.sessions);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const path = url.pathname;
    if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) {
      this.api.handle(req, res, url);
      return true;
    }
    if (path === '/' || path === '/console') {
      res.writeHead(302, { location: '/console/' });
      res.end();
      return true;
    }
    if (path.startsWith('/console/')) {
      this.files.serve(req, res, path.slice('/console/'.length));
      return true;
    }
    return false;
  }
}
