import { api, type Client, type Me } from './api.js';
import { field, openDialog } from './dialog.js';
import { h, replace, since } from './dom.js';
import { subscribe } from './live.js';
import { ClientSelection } from './multiExec.js';
import { shellQuote } from './shellQuote.js';
import { SHELL_WORDS_HINT, shellWords } from './shellWords.js';

/** A local port for a remote one: the same, unless that needs root to bind (then 10000 above it). */
export function localPortFor(port: number): number {
  return port < 1024 ? port + 10_000 : port;
}

/**
 * The command an operator runs to reach a client's port: shown, not run, by the console, but pasted
 * into a shell. Every value is quoted (a client chooses its own name), and `--` ends the options, so
 * a name that starts with a dash is still the client's name.
 */
export function forwardCommand(gateway: string, me: Me, client: Client, port: number | undefined): string {
  const ports = port === undefined ? 'LOCAL_PORT:REMOTE_PORT' : `${localPortFor(port)}:${port}`;
  return `switchboard control --gateway ${shellQuote(gateway)} --key-file KEYFILE --operator ${shellQuote(me.operator)} --password-env SB_PASSWORD forward -- ${shellQuote(client.name)} 127.0.0.1:${ports}`;
}

function execPanel(client: Client): HTMLElement {
  const command = h('input', { name: 'command', value: 'uname -a', 'aria-label': 'command' });
  const output = h('pre', { class: 'output', 'aria-live': 'polite' });
  const run = h('button', { type: 'submit' }, 'Run');
  const form = h('form', { class: 'exec' }, field('Run a short command', command, SHELL_WORDS_HINT), run, output);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const parsed = shellWords(command.value);
    if (!parsed.ok) return void (output.textContent = `not run: ${parsed.error}`);
    const argv = parsed.words;
    if (!argv.length) return;
    output.textContent = 'running…';
    run.disabled = true;
    api<{ stdout: string; stderr: string; code: number | null; truncated: boolean; timedOut: boolean }>(
      'POST',
      '/exec',
      { client: client.id, command: argv },
    )
      .then(
        (r) => {
          const status = r.timedOut
            ? 'timed out'
            : `exit code ${r.code ?? '—'}${r.truncated ? ' (output cut at 64 KiB)' : ''}`;
          output.textContent = `${r.stdout.replace(/\n$/, '')}${r.stderr ? `\n[stderr]\n${r.stderr}` : ''}\n[${status}]`;
        },
        (err: Error) => (output.textContent = `error: ${err.message}`),
      )
      .finally(() => (run.disabled = false));
  });
  return form;
}

function connectDialog(me: Me, client: Client): void {
  const ports: (number | undefined)[] = client.allowForward.length ? client.allowForward : [undefined];
  const commands = ports.map((p) => h('pre', { class: 'command' }, forwardCommand(location.host, me, client, p)));
  openDialog(
    `Connect to ${client.name}`,
    [
      h(
        'p',
        {},
        client.allowForward.length
          ? `Ports this client allows: ${client.allowForward.join(', ')}. Forward one to this machine with:`
          : 'This client allows no port forwards (its --allow-forward list is empty). When it does:',
      ),
      commands,
      // web page hook (h6): the client's web page through the server's proxy (webPage.ts).
      client.allowForward.length
        ? h(
            'p',
            {},
            h(
              'a',
              {
                href: `#/web/${encodeURIComponent(client.id)}`,
                id: 'web-page-link',
                onclick: (e: Event) => (e.target as HTMLElement).closest('dialog')?.close(),
              },
              'Open a web page of this client in the browser…',
            ),
          )
        : null,
      client.allowExec
        ? execPanel(client)
        : h('p', { class: 'muted' }, 'This client does not allow commands (--allow-exec).'),
    ],
    [{ label: 'Close' }],
  );
}

/**
 * Every client the operator may see, searchable, kept current by the event stream: the list is
 * loaded once, then each client-up and client-down event edits it in place.
 */
export function clientsPage(view: HTMLElement, me: Me): () => void {
  const clients = new Map<string, Client>();
  const search = h('input', { type: 'search', placeholder: 'Search name, address, platform…', 'aria-label': 'search' });
  const group = h('select', { 'aria-label': 'group' });
  const count = h('span', { class: 'muted' });
  const body = h('tbody');
  // multi-exec hook (h6): the selection's checkboxes and its "Run on selected" button.
  const selection = new ClientSelection();
  const table = h(
    'table',
    { class: 'grid', id: 'clients' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Name', 'Group', 'Platform', 'Address', 'Server', 'Connected since', ''].map((t) => h('th', {}, t)),
        h('th', {}, selection.allBox),
      ),
    ),
    body,
  );

  function render(): void {
    const text = search.value.trim().toLowerCase();
    const chosen = group.value;
    const groups = [...new Set([...clients.values()].map((c) => c.group))].sort();
    replace(
      group,
      h('option', { value: '' }, 'All groups'),
      groups.map((g) => h('option', { value: g, selected: g === chosen }, g || '(none)')),
    );
    const rows = [...clients.values()]
      .filter(
        (c) =>
          (!chosen || c.group === chosen) &&
          (!text ||
            [c.name, c.id, c.group, c.platform, c.address, c.server].some((f) => f.toLowerCase().includes(text))),
      )
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    replace(
      body,
      rows.length
        ? rows.map((c) =>
            h(
              'tr',
              { 'data-id': c.id },
              h('td', {}, h('strong', {}, c.name)),
              h('td', {}, c.group),
              h('td', {}, c.platform),
              h('td', {}, c.address),
              h('td', {}, c.server),
              h('td', { title: c.connectedAt }, since(c.connectedAt)),
              h('td', {}, h('button', { type: 'button', onclick: () => connectDialog(me, c) }, 'Connect')),
              h('td', {}, selection.box(c)),
            ),
          )
        : h(
            'tr',
            {},
            h('td', { colspan: 8, class: 'muted' }, clients.size ? 'No client matches.' : 'No client is connected.'),
          ),
    );
    count.textContent = `${rows.length} of ${clients.size}`;
    selection.shown(rows, clients);
  }

  async function load(): Promise<void> {
    const list = await api<Client[]>('GET', '/clients');
    clients.clear();
    for (const c of list) clients.set(c.id, c);
    render();
  }

  search.addEventListener('input', render);
  group.addEventListener('change', render);
  replace(
    view,
    h(
      'section',
      {},
      h('div', { class: 'toolbar' }, h('h1', {}, 'Clients'), search, group, count, selection.runButton),
      table,
    ),
  );
  // Subscribe first, then load: an arrival between the two is an idempotent upsert, never lost.
  const stop = subscribe({
    clientUp: (c) => {
      clients.set(c.id, c);
      render();
    },
    clientDown: (id) => {
      clients.delete(id);
      render();
    },
    reconnected: () => void load(),
  });
  void load().catch((err: Error) => replace(view, h('p', { class: 'error' }, err.message)));
  // Refresh "connected since" now and then; no data is fetched for it.
  const timer = setInterval(render, 30_000);
  return () => {
    stop();
    clearInterval(timer);
  };
}
