import type { Client } from './api.js';
import { h, replace, since } from './dom.js';
import type { RowRenderer } from './windowedRows.js';

/** The pages other tabs offer for one client, reached by link: #/terminal/ID and so on. */
export const OPEN_TARGETS = [
  { page: 'terminal', label: 'Terminal' },
  { page: 'desktop', label: 'Desktop' },
  { page: 'files', label: 'Files' },
  { page: 'web', label: 'Web' },
] as const;

export const CLIENT_COLUMNS = ['Name', 'Group', 'Platform', 'Address', 'Server', 'Connected since', ''] as const;
/** A class per column, so that narrow screens can leave the less needed ones out (style.css). */
export const COLUMN_CLASSES = ['c-name', 'c-group', 'c-platform', 'c-address', 'c-server', 'c-since', 'c-actions'];

export interface RowActions {
  connect(client: Client): void;
  isSelected(id: string): boolean;
  select(id: string, on: boolean): void;
}

/** The menu's links are made when it is first opened: most rows never are, and rows are made often. */
function openMenu(client: Client): HTMLElement {
  const id = encodeURIComponent(client.id);
  const menu = h('div', { class: 'menu', role: 'menu' });
  const details = h(
    'details',
    { class: 'open-menu' },
    h('summary', { 'aria-label': `Open ${client.name}` }, 'Open'),
    menu,
  );
  details.addEventListener('toggle', () => {
    if (details.open && !menu.firstChild)
      menu.append(...OPEN_TARGETS.map((t) => h('a', { href: `#/${t.page}/${id}`, role: 'menuitem' }, t.label)));
  });
  return details;
}

function cells(client: Client, actions: RowActions): HTMLTableCellElement[] {
  // The selection's checkbox sits in the name cell (no text of its own), so the cell reads as the name.
  const tick = h('input', {
    type: 'checkbox',
    class: 'select',
    'aria-label': `select ${client.name}`,
    checked: actions.isSelected(client.id),
  });
  tick.addEventListener('change', () => actions.select(client.id, tick.checked));
  const values: (Node | string)[] = [
    h('strong', {}, client.name),
    client.group,
    client.platform,
    client.address,
    client.server,
    since(client.connectedAt),
  ];
  const row = values.map((v, i) =>
    h('td', { class: COLUMN_CLASSES[i], title: i === 5 ? client.connectedAt : undefined }, v),
  );
  row[0]!.prepend(tick);
  row.push(
    h(
      'td',
      { class: 'c-actions actions' },
      h('button', { type: 'button', onclick: () => actions.connect(client) }, 'Connect'),
      openMenu(client),
    ),
  );
  return row;
}

/** One client's row: built once, then updated in place when the client's details change. */
export function clientRows(actions: RowActions): RowRenderer<Client> {
  return {
    key: (c) => c.id,
    build: (c) => h('tr', { 'data-id': c.id, class: 'row' }, cells(c, actions)),
    update: (row, c) => replace(row, cells(c, actions)),
  };
}
