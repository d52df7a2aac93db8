import { api, enc } from './api.js';
import { confirmDialog, field, openDialog } from './dialog.js';
import { h, replace, since } from './dom.js';

/** A device as GET /api/v1/devices lists it (src/store/deviceTarget.ts's DeviceListing). */
interface Device {
  id: string;
  name: string;
  reportedName?: string;
  group: string;
  key: string;
  platform: string;
  firstSeen: string;
  lastSeen: string;
  lastAddress: string;
  server: string;
  state: 'online' | 'offline' | 'pending' | 'revoked';
}

const STATES = ['all', 'online', 'offline', 'pending', 'revoked'] as const;

/**
 * Devices (admins): every identity the cluster admitted, online or not, with when each was last
 * seen; approve a pending one, revoke or unrevoke, rename, forget. Every change is the REST API's
 * (audited, replicated); this page only offers the actions each state allows.
 */
export function devicesPage(view: HTMLElement): () => void {
  const body = h('tbody');
  const state = h(
    'select',
    { 'aria-label': 'state', id: 'device-state' },
    STATES.map((s) => h('option', { value: s }, s === 'all' ? 'all states' : s)),
  );
  const filter = h('input', { type: 'search', placeholder: 'Filter by name, id, group…', 'aria-label': 'filter' });
  const count = h('span', { class: 'muted', id: 'device-count' });
  let devices: Device[] = [];

  const act =
    (path: string, method = 'POST', bodyValue?: unknown) =>
    async () => {
      await api(method, path, bodyValue);
      await load();
    };

  function rename(d: Device): void {
    const input = h('input', { type: 'text', value: d.name, maxlength: 64, 'aria-label': 'name' });
    openDialog(`Rename ${d.name}`, field('Name', input, `the client reports "${d.reportedName ?? d.name}"`), [
      { label: 'Cancel' },
      { label: 'Rename', primary: true, run: () => act(`/devices/${enc(d.id)}`, 'PUT', { name: input.value })() },
    ]);
  }

  function actions(d: Device): HTMLElement {
    const button = (label: string, run: () => void) => h('button', { type: 'button', onclick: run }, label);
    return h(
      'td',
      { class: 'actions' },
      d.state === 'pending' ? button('Approve', () => void act(`/devices/${enc(d.id)}/approve`)()) : null,
      d.state === 'revoked'
        ? button('Unrevoke', () => void act(`/devices/${enc(d.id)}/unrevoke`)())
        : button('Revoke', () => void act(`/devices/${enc(d.id)}/revoke`)()),
      button('Rename', () => rename(d)),
      d.state === 'revoked'
        ? null
        : button('Remove', () =>
            confirmDialog(
              `Forget ${d.name}?`,
              'It is listed again if it comes back.',
              act(`/devices/${enc(d.id)}`, 'DELETE'),
            ),
          ),
    );
  }

  function render(): void {
    const text = filter.value.trim().toLowerCase();
    const rows = devices.filter(
      (d) => !text || [d.name, d.id, d.group, d.platform, d.lastAddress].some((f) => f.toLowerCase().includes(text)),
    );
    count.textContent = `${rows.length} of ${devices.length}`;
    replace(
      body,
      rows.map((d) =>
        h(
          'tr',
          { 'data-id': d.id, class: `device-${d.state}` },
          h('td', { title: d.reportedName ? `reports itself as ${d.reportedName}` : '' }, d.name),
          h('td', {}, h('code', {}, d.id)),
          h('td', {}, h('span', { class: `badge ${d.state}` }, d.state)),
          h('td', {}, d.group),
          h('td', {}, d.key),
          h('td', {}, d.platform),
          h('td', { title: d.lastSeen }, d.state === 'online' ? 'now' : d.lastSeen ? since(d.lastSeen) : ''),
          h('td', {}, d.lastAddress),
          h('td', {}, d.server),
          actions(d),
        ),
      ),
    );
  }

  async function load(): Promise<void> {
    const query = state.value === 'all' ? '' : `?state=${enc(state.value)}`;
    devices = await api<Device[]>('GET', `/devices${query}`);
    render();
  }

  state.addEventListener('change', () => void load());
  filter.addEventListener('input', render);
  replace(
    view,
    h(
      'section',
      {},
      h(
        'div',
        { class: 'toolbar' },
        h('h1', {}, 'Devices'),
        state,
        filter,
        count,
        h('button', { type: 'button', onclick: () => void load() }, 'Refresh'),
      ),
      h(
        'table',
        { class: 'grid', id: 'devices' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'ID', 'State', 'Group', 'Key', 'Platform', 'Last seen', 'Last address', 'Server', ''].map((t) =>
              h('th', {}, t),
            ),
          ),
        ),
        body,
      ),
    ),
  );
  void load();
  return () => undefined;
}
