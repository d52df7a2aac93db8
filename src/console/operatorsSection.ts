import { api, enc } from './api.js';
import { confirmDialog, field, openDialog } from './dialog.js';
import { h, replace } from './dom.js';

interface Operator {
  name: string;
  role: 'admin' | 'operator';
  keys: string[];
  hasTotp: boolean;
  createdAt: string;
}

function keyChecks(all: string[], chosen: string[]): { el: HTMLElement; value(): string[] } {
  const boxes = all.map((k) => ({
    k,
    box: h('input', { type: 'checkbox', name: `key-${k}`, checked: chosen.includes(k) }),
  }));
  return {
    el: h(
      'div',
      { class: 'checks' },
      boxes.length
        ? boxes.map(({ k, box }) => h('label', {}, box, ` ${k}`))
        : h('span', { class: 'muted' }, 'no keys yet'),
    ),
    value: () => boxes.filter((b) => b.box.checked).map((b) => b.k),
  };
}

function roleSelect(role: string): HTMLSelectElement {
  return h(
    'select',
    { name: 'role' },
    ['operator', 'admin'].map((r) => h('option', { value: r, selected: r === role }, r)),
  );
}

/** Operators: add, edit role / keys / password, enrol TOTP (QR code to scan), remove. */
export function operatorsSection(box: HTMLElement): () => Promise<void> {
  let keyNames: string[] = [];

  async function load(): Promise<void> {
    const [ops, keys] = await Promise.all([
      api<Operator[]>('GET', '/operators'),
      api<{ name: string }[]>('GET', '/keys'),
    ]);
    keyNames = keys.map((k) => k.name);
    replace(
      box,
      h(
        'div',
        { class: 'toolbar' },
        h('h2', {}, 'Operators'),
        h('button', { type: 'button', onclick: () => edit() }, 'Add operator'),
      ),
      h(
        'table',
        { class: 'grid', id: 'operators' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Role', 'Keys', 'TOTP', ''].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          ops.map((o) =>
            h(
              'tr',
              { 'data-name': o.name },
              h('td', {}, h('strong', {}, o.name)),
              h('td', {}, o.role),
              h('td', {}, o.role === 'admin' ? '(all)' : o.keys.join(', ') || '(none)'),
              h('td', {}, o.hasTotp ? 'enrolled' : 'no'),
              h(
                'td',
                { class: 'actions' },
                h('button', { type: 'button', onclick: () => edit(o) }, 'Edit'),
                h(
                  'button',
                  { type: 'button', onclick: () => enrol(o.name) },
                  o.hasTotp ? 'Re-enrol TOTP' : 'Enrol TOTP',
                ),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger',
                    onclick: () =>
                      confirmDialog(`Remove ${o.name}`, `${o.name} is logged out and can no longer log in.`, () =>
                        api('DELETE', `/operators/${enc(o.name)}`).then(load),
                      ),
                  },
                  'Remove',
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function edit(existing?: Operator): void {
    const name = h('input', { name: 'name', required: true, value: existing?.name ?? '', disabled: Boolean(existing) });
    const role = roleSelect(existing?.role ?? 'operator');
    const keys = keyChecks(keyNames, existing?.keys ?? []);
    const password = h('input', {
      name: 'password',
      type: 'password',
      autocomplete: 'new-password',
      placeholder: existing ? 'unchanged when empty' : '',
    });
    openDialog(
      existing ? `Edit ${existing.name}` : 'Add operator',
      [
        field('Name', name),
        field('Role', role, 'admins edit the configuration; operators browse and connect'),
        field('Keys', keys.el, 'the clients this operator may see and reach (admins: all)'),
        field('Password', password, 'at least 8 characters'),
      ],
      [
        { label: 'Cancel' },
        {
          label: 'Save',
          primary: true,
          run: async () => {
            if (existing)
              await api('PUT', `/operators/${enc(existing.name)}`, {
                role: role.value,
                keys: keys.value(),
                ...(password.value ? { password: password.value } : {}),
              });
            else
              await api('POST', '/operators', {
                name: name.value.trim(),
                role: role.value,
                keys: keys.value(),
                password: password.value,
              });
            await load();
          },
        },
      ],
    );
  }

  async function enrol(name: string): Promise<void> {
    const { uri, qr } = await api<{ uri: string; qr: string }>('POST', `/operators/${enc(name)}/totp`);
    await load();
    openDialog(
      `TOTP for ${name}`,
      [
        h('p', {}, 'Scan this code with an authenticator app. It is shown once; from now on logins need a code.'),
        h('img', { src: qr, alt: 'TOTP QR code', class: 'qr', width: 220, height: 220 }),
        h('details', {}, h('summary', {}, 'otpauth:// URI'), h('pre', { class: 'command' }, uri)),
      ],
      [{ label: 'Done' }],
    );
  }

  return load;
}
