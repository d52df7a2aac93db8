import { enc, type Client } from './api.js';
import { h } from './dom.js';

/**
 * Links from a client to the pages that open a session to it in the browser: its terminal (the
 * client must run with --allow-shell: the page says so if not) and a remote desktop on each port it
 * allows (for a VNC server there). Following a link closes the dialog it is in.
 */
export function sessionLinks(client: Client): HTMLElement {
  const close = (event: Event) => (event.target as HTMLElement).closest('dialog')?.close();
  const link = (href: string, text: string, id: string) => h('a', { href, class: 'button', id, onclick: close }, text);
  return h(
    'p',
    { class: 'session-links' },
    link(`#/terminal/${enc(client.id)}`, 'Open a terminal', 'open-terminal'),
    ...client.allowForward.map((port) =>
      link(`#/desktop/${enc(client.id)}?port=${port}`, `Remote desktop (VNC on ${port})`, `open-desktop-${port}`),
    ),
  );
}
