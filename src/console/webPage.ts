import { api, enc, type Client } from './api.js';
import { field } from './dialog.js';
import { h, replace } from './dom.js';

/**
 * `#/web/<clientId>`: open a web page of a client (a printer's admin page, a dashboard) in a new
 * tab, through the server's web proxy. The page asks for a port the client allows; the server makes
 * a link that works only in this browser, for as long as this console session lasts. The proxied
 * page runs on an origin of its own, so it never sees the console's cookie or token.
 */
export function webPage(view: HTMLElement, clientId: string): () => void {
  let gone = false;
  replace(view, h('p', { class: 'muted' }, 'Loading…'));
  api<Client>('GET', `/clients/${enc(clientId)}`).then(
    (client) => {
      if (!gone) show(view, client);
    },
    (err: Error) => {
      if (!gone) replace(view, h('section', { class: 'card' }, h('p', { class: 'error' }, err.message)));
    },
  );
  return () => {
    gone = true;
  };
}

function show(view: HTMLElement, client: Client): void {
  const ports = client.allowForward;
  const port = h(
    'select',
    { name: 'port', 'aria-label': 'port' },
    ports.map((p) => h('option', { value: p }, String(p))),
  );
  const path = h('input', { name: 'path', value: '/', 'aria-label': 'path' });
  const result = h('div', { id: 'web-link', 'aria-live': 'polite' });
  const open = h('button', { type: 'submit', class: 'primary', disabled: !ports.length }, 'Make a link');
  const form = h(
    'form',
    { class: 'card', id: 'web-form' },
    h('h1', {}, `Web page of ${client.name}`),
    ports.length
      ? h('p', {}, `Ports this client allows: ${ports.join(', ')}.`)
      : h('p', { class: 'error' }, 'This client allows no port (its --allow-forward list is empty).'),
    field('Port', port),
    field('Path', path, 'where to start, on the client’s page'),
    open,
    result,
    h(
      'p',
      { class: 'muted' },
      'The page opens in a new tab, on an address of its own: it cannot read this console. The link works in this browser only, until you log out.',
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    open.disabled = true;
    api<{ url: string; origin: string }>('POST', '/web-links', {
      client: client.id,
      port: Number(port.value),
      path: path.value.startsWith('/') ? path.value : `/${path.value}`,
    })
      .then(
        // A link the operator clicks, rather than window.open after an await, which a popup blocker stops.
        (link) =>
          replace(
            result,
            h(
              'a',
              { href: link.url, target: '_blank', rel: 'noopener noreferrer', class: 'button', id: 'open-web' },
              `Open ${client.name}:${port.value} in a new tab`,
            ),
            h('p', { class: 'muted' }, link.origin),
          ),
        (err: Error) => replace(result, h('p', { class: 'error' }, err.message)),
      )
      .finally(() => (open.disabled = false));
  });
  replace(view, form);
}
