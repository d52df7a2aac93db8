import { api, enc } from './api.js';
import { confirmDialog, field, openDialog } from './dialog.js';
import { h, replace } from './dom.js';

interface Key {
  name: string;
  value: string;
  createdAt: string;
}

/** Connectivity keys: values hidden until asked for; a new key's value is shown once it is made. */
export function keysSection(box: HTMLElement): () => Promise<void> {
  async function load(): Promise<void> {
    const keys = await api<Key[]>('GET', '/keys');
    replace(
      box,
      h('div', { class: 'toolbar' }, h('h2', {}, 'Keys'), h('button', { type: 'button', onclick: addKey }, 'Add key')),
      h(
        'table',
        { class: 'grid', id: 'keys' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Value', 'Created', ''].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          keys.map((k) => {
            const value = h('code', {}, '••••••••');
            return h(
              'tr',
              { 'data-name': k.name },
              h('td', {}, h('strong', {}, k.name)),
              h(
                'td',
                {},
                value,
                ' ',
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'link',
                    onclick: () => (value.textContent = value.textContent === k.value ? '••••••••' : k.value),
                  },
                  'show',
                ),
              ),
              h('td', {}, new Date(k.createdAt).toLocaleString()),
              h(
                'td',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger',
                    onclick: () =>
                      confirmDialog(
                        `Remove key ${k.name}`,
                        `Clients and controls using ${k.name} are disconnected at once.`,
                        () => api('DELETE', `/keys/${enc(k.name)}`).then(load),
                      ),
                  },
                  'Remove',
                ),
              ),
            );
          }),
        ),
      ),
    );
  }

  function addKey(): void {
    const name = h('input', { name: 'name', required: true });
    const value = h('input', { name: 'value', placeholder: 'random when empty' });
    openDialog(
      'Add key',
      [field('Name', name), field('Value', value, '8 to 256 characters')],
      [
        { label: 'Cancel' },
        {
          label: 'Add',
          primary: true,
          run: async () => {
            const key = await api<Key>('POST', '/keys', {
              name: name.value.trim(),
              ...(value.value ? { value: value.value } : {}),
            });
            await load();
            openDialog(
              `Key ${key.name}`,
              [
                h('p', {}, 'Give this value to the clients and controls of this key:'),
                h('pre', { class: 'command' }, key.value),
              ],
              [{ label: 'Done' }],
            );
          },
        },
      ],
    );
  }

  return load;
}
