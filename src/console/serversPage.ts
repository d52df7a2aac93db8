import { api, type ServerInfo } from './api.js';
import { h, replace } from './dom.js';
import { subscribe } from './live.js';
import { shareChart } from './shareChart.js';
import { shares } from './shares.js';

/** The Servers tab: each server's role, weight, state and load, and the share picture; live. */
export function serversPage(view: HTMLElement): () => void {
  const body = h('tbody');
  const chart = h('div', { class: 'chart-box' });
  const yesNo = (b: boolean) => (b ? 'yes' : 'no');

  function render(rows: ServerInfo[]): void {
    replace(
      body,
      rows.map((s) =>
        h(
          'tr',
          { 'data-address': s.address },
          h('td', {}, h('strong', {}, s.address)),
          h('td', {}, s.role),
          h('td', { class: 'num' }, s.weight),
          h('td', {}, yesNo(s.enabled)),
          h('td', {}, s.secondary ? 'yes' : ''),
          h('td', {}, h('span', { class: `status status-${s.status}` }, s.status)),
          h('td', { class: 'num' }, s.clients),
          h('td', { class: 'num' }, s.sessions),
        ),
      ),
    );
    replace(chart, shareChart(shares(rows)));
  }

  replace(
    view,
    h(
      'section',
      {},
      h('div', { class: 'toolbar' }, h('h1', {}, 'Servers')),
      h(
        'table',
        { class: 'grid', id: 'servers' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Address', 'Role', 'Weight', 'Enabled', 'Secondary', 'Status', 'Clients', 'Sessions'].map((t) =>
              h('th', {}, t),
            ),
          ),
        ),
        body,
      ),
      h('h2', {}, 'Weight share and share of clients'),
      chart,
    ),
  );
  // The stream starts with the whole table and sends it again whenever it changes.
  const stop = subscribe({ servers: render });
  void api<ServerInfo[]>('GET', '/servers').then(render, (err: Error) =>
    replace(view, h('p', { class: 'error' }, err.message)),
  );
  return stop;
}
