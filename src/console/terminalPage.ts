import { bridgeUrl, closeText } from './bridge.js';
import { h, replace } from './dom.js';
import { routeScriptStylesToSheets } from './styleShim.js';
import { inputFrame, resizeFrame, TerminalFrameDecoder } from './terminalFrames.js';

// Served by the server from the installed packages (src/server/consoleVendor.ts); loaded by URL
// when the page opens, so the other pages never pay for them. The types come from the packages.
const XTERM = './vendor/xterm/lib/xterm.mjs';
const XTERM_FIT = './vendor/xterm-fit/lib/addon-fit.mjs';
const XTERM_CSS = 'vendor/xterm/css/xterm.css';

function loadStylesheet(href: string): void {
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(h('link', { rel: 'stylesheet', href }));
}

/**
 * #/terminal/<clientId>: a terminal on the client in the page (xterm.js), over a shell session
 * bridged through the server (the client must run with --allow-shell). Keys go up as they are
 * (Ctrl-C included), the window's size follows the page's, and the shell's exit status is shown.
 * Returns the page's leave function, which ends the session.
 */
export function terminalPage(view: HTMLElement, clientId: string): () => void {
  const status = h('p', { class: 'muted', id: 'terminal-status' }, 'Connecting…');
  const size = h('span', { class: 'muted', id: 'terminal-size' });
  const box = h('div', { class: 'terminal', id: 'terminal' });
  replace(
    view,
    h(
      'section',
      { class: 'card terminal-card' },
      h('div', { class: 'toolbar' }, h('h1', {}, 'Terminal'), h('span', { class: 'muted' }, clientId), size),
      box,
      status,
    ),
  );
  let left = false;
  let cleanup: () => void = () => undefined;
  const say = (text: string, error = false) => {
    status.textContent = text;
    status.className = error ? 'error' : 'muted';
  };
  routeScriptStylesToSheets();
  loadStylesheet(XTERM_CSS);
  void Promise.all([
    import(XTERM) as Promise<typeof import('@xterm/xterm')>,
    import(XTERM_FIT) as Promise<typeof import('@xterm/addon-fit')>,
  ]).then(
    ([{ Terminal }, { FitAddon }]) => {
      if (left) return;
      const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 2000 });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(box);
      fit.fit();
      size.textContent = `${term.cols}×${term.rows}`;
      box.dataset.size = `${term.cols}x${term.rows}`;
      const ws = new WebSocket(bridgeUrl({ client: clientId, kind: 'shell', cols: term.cols, rows: term.rows }));
      ws.binaryType = 'arraybuffer';
      const decoder = new TerminalFrameDecoder();
      const encoder = new TextEncoder();
      let exited = false;
      const send = (bytes: Uint8Array) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
      };
      ws.onopen = () => {
        say('Connected.');
        term.focus();
      };
      ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
        if (typeof event.data === 'string') return;
        for (const e of decoder.push(new Uint8Array(event.data))) {
          if ('output' in e) term.write(e.output);
          else {
            exited = true;
            say(
              e.exit.signal
                ? `The shell was killed by ${e.exit.signal}.`
                : `The shell exited with status ${e.exit.code ?? '?'}.`,
            );
          }
        }
        if (decoder.error) ws.close(1000);
      };
      ws.onclose = (event) => {
        if (!exited) say(closeText(event.code, event.reason), event.code !== 1000);
        term.options.disableStdin = true;
      };
      const typed = term.onData((text) => send(inputFrame(encoder.encode(text))));
      const binary = term.onBinary((text) => send(inputFrame(Uint8Array.from(text, (c) => c.charCodeAt(0)))));
      const resized = term.onResize(({ cols, rows }) => {
        size.textContent = `${cols}×${rows}`;
        box.dataset.size = `${cols}x${rows}`;
        send(resizeFrame(cols, rows));
      });
      // The page's size is the terminal's: a window made wider gives the remote shell more columns.
      const observer = new ResizeObserver(() => fit.fit());
      observer.observe(box);
      cleanup = () => {
        observer.disconnect();
        typed.dispose();
        binary.dispose();
        resized.dispose();
        ws.close(1000);
        term.dispose();
      };
    },
    (err: unknown) => say(`The terminal could not load: ${String(err)}`, true),
  );
  return () => {
    left = true;
    cleanup();
  };
}
