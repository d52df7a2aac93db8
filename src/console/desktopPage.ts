import { bridgeUrl, closeText } from './bridge.js';
import { h, replace } from './dom.js';

// noVNC's ES modules, served by the server from the installed package (src/server/consoleVendor.ts).
const NOVNC = './vendor/novnc/core/rfb.js';

/** What this page uses of noVNC's RFB (the package ships no types). */
interface Rfb extends EventTarget {
  scaleViewport: boolean;
  focusOnClick: boolean;
  focus(): void;
  disconnect(): void;
}
type RfbClass = new (target: HTMLElement, urlOrChannel: string | WebSocket) => Rfb;

/**
 * #/desktop/<clientId>?port=N: the client's VNC server (a port it allows with --allow-forward) in
 * the page, drawn by noVNC over a forward session that the server bridges to the page's own
 * WebSocket: no port opens on the operator's machine, the server or the client's network.
 */
export function desktopPage(view: HTMLElement, clientId: string, query: URLSearchParams): () => void {
  const port = Number(query.get('port') ?? 5900);
  const status = h('p', { class: 'muted', id: 'desktop-status' }, 'Connecting…');
  const screen = h('div', { class: 'desktop', id: 'desktop' });
  replace(
    view,
    h(
      'section',
      { class: 'card' },
      h(
        'div',
        { class: 'toolbar' },
        h('h1', {}, 'Remote desktop'),
        h('span', { class: 'muted' }, `${clientId}, VNC port ${port}`),
      ),
      screen,
      status,
    ),
  );
  const say = (text: string, error = false) => {
    status.textContent = text;
    status.className = error ? 'error' : 'muted';
  };
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    say(`No VNC port: give one from 1 to 65535 as #/desktop/${clientId}?port=N.`, true);
    return () => undefined;
  }
  let left = false;
  let rfb: Rfb | undefined;
  void (import(NOVNC) as Promise<{ default: RfbClass }>).then(
    ({ default: RFB }) => {
      if (left) return;
      // The page opens the WebSocket and hands it to noVNC, so that it hears the bridge's close
      // code and reason (why a session was refused) that noVNC does not pass on.
      let closed: { code: number; reason: string } | undefined;
      const ws = new WebSocket(bridgeUrl({ client: clientId, kind: 'forward', port }));
      ws.addEventListener('close', (event) => (closed = { code: event.code, reason: event.reason }));
      rfb = new RFB(screen, ws);
      rfb.scaleViewport = false;
      rfb.focusOnClick = true;
      rfb.addEventListener('connect', () => {
        say('Connected. Click the screen to type into it.');
        screen.dataset.connected = 'true';
        rfb?.focus();
      });
      rfb.addEventListener('disconnect', (event) => {
        screen.dataset.connected = 'false';
        const clean = (event as CustomEvent<{ clean: boolean }>).detail?.clean;
        say(
          closed ? closeText(closed.code, closed.reason) : clean ? 'Disconnected.' : 'The connection was lost.',
          !clean,
        );
      });
      rfb.addEventListener('securityfailure', (event) => {
        const reason = (event as CustomEvent<{ reason?: string }>).detail?.reason;
        say(`The VNC server refused: ${reason ?? 'security failure'}`, true);
      });
      rfb.addEventListener('credentialsrequired', () =>
        say('This VNC server asks for a password, which this page does not support yet.', true),
      );
    },
    (err: unknown) => say(`The remote desktop could not load: ${String(err)}`, true),
  );
  return () => {
    left = true;
    rfb?.disconnect();
  };
}
