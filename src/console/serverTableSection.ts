import { api, enc } from './api.js';
import { confirmDialog, field, openDialog } from './dialog.js';
import { h, replace } from './dom.js';

interface ServerRow {
  address: string;
  weight: number;
  enabled: boolean;
  secondary: boolean;
}

/** Splits HOST:PORT (IPv6 in brackets too) for the dialog's two fields. */
export function splitAddress(address: string): { host: string; port: string } {
  const at = address.lastIndexOf(':');
  return at < 0 ? { host: address, port: '' } : { host: address.slice(0, at), port: address.slice(at + 1) };
}

/** The primary's server table, with the reference guide's Add, Edit and Delete dialogs. */
export function serverTableSection(box: HTMLElement): () => Promise<void> {
  async function load(): Promise<void> {
    const config = await api<{ servers: ServerRow[] }>('GET', '/config');
    replace(
      box,
      h(
        'div',
        { class: 'toolbar' },
        h('h2', {}, 'Servers'),
        h('button', { type: 'button', onclick: () => edit() }, 'Add server'),
      ),
      h(
        'p',
        { class: 'muted' },
        "Members of the cluster. The primary's own weight is the primary-weight setting below.",
      ),
      h(
        'table',
        { class: 'grid', id: 'server-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Address', 'Weight', 'Enabled', 'Secondary', ''].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          config.servers.map((s) =>
            h(
              'tr',
              { 'data-address': s.address },
              h('td', {}, h('strong', {}, s.address)),
              h('td', { class: 'num' }, s.weight),
              h('td', {}, s.enabled ? 'yes' : 'no'),
              h('td', {}, s.secondary ? 'yes' : ''),
              h(
                'td',
                { class: 'actions' },
                h('button', { type: 'button', onclick: () => edit(s) }, 'Edit'),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger',
                    onclick: () =>
                      confirmDialog(
                        `Delete ${s.address}`,
                        `${s.address} leaves the cluster; its clients go back to the primary.`,
                        () => api('DELETE', `/servers/${enc(s.address)}`).then(load),
                      ),
                  },
                  'Delete',
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function edit(existing?: ServerRow): void {
    const parts = splitAddress(existing?.address ?? '');
    const host = h('input', { name: 'host', required: true, value: parts.host, disabled: Boolean(existing) });
    const port = h('input', {
      name: 'port',
      type: 'number',
      min: 1,
      max: 65535,
      value: parts.port || '443',
      disabled: Boolean(existing),
    });
    const weight = h('input', { name: 'weight', type: 'number', min: 0, value: existing?.weight ?? 1000 });
    const secondary = h('input', { name: 'secondary', type: 'checkbox', checked: existing?.secondary ?? false });
    const enabled = h('input', { name: 'enabled', type: 'checkbox', checked: existing?.enabled ?? true });
    openDialog(
      existing ? `Edit server ${existing.address}` : 'Add server',
      [
        field('Address', host, 'host name or IP address members are reached at'),
        field('Port', port),
        field('Weight', weight, "relative share of clients (the primary's: primary-weight)"),
        h('label', { class: 'check' }, secondary, ' Secondary (takes over when the primary fails)'),
        h('label', { class: 'check' }, enabled, ' Enabled (disabled: takes no clients, drains the ones it has)'),
      ],
      [
        { label: 'Cancel' },
        {
          label: existing ? 'Save' : 'Add',
          primary: true,
          run: async () => {
            const row = { weight: Number(weight.value), enabled: enabled.checked, secondary: secondary.checked };
            if (existing) await api('PUT', `/servers/${enc(existing.address)}`, row);
            else await api('POST', '/servers', { address: `${host.value.trim()}:${port.value}`, ...row });
            await load();
          },
        },
      ],
    );
  }

  return load;
}
