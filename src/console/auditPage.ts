import { api } from './api.js';
import { h, replace } from './dom.js';

interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

function describe(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('  ');
}

/** The audit log, newest first: logins, failed logins, sessions with bytes each way, changes. */
export function auditPage(view: HTMLElement): () => void {
  const body = h('tbody');
  const limit = h(
    'select',
    { 'aria-label': 'entries' },
    [50, 200, 1000].map((n) => h('option', { value: n }, `last ${n}`)),
  );
  const filter = h('input', { type: 'search', placeholder: 'Filter by actor or action…', 'aria-label': 'filter' });
  let entries: AuditEntry[] = [];

  function render(): void {
    const text = filter.value.trim().toLowerCase();
    const rows = entries.filter(
      (e) => !text || e.actor.toLowerCase().includes(text) || e.action.toLowerCase().includes(text),
    );
    replace(
      body,
      rows.map((e) =>
        h(
          'tr',
          {},
          h('td', { title: e.at }, new Date(e.at).toLocaleString()),
          h('td', {}, e.actor),
          h('td', {}, h('code', {}, e.action)),
          h('td', { class: 'detail' }, describe(e.detail)),
        ),
      ),
    );
  }

  async function load(): Promise<void> {
    entries = await api<AuditEntry[]>('GET', `/audit?limit=${limit.value}`);
    render();
  }

  limit.addEventListener('change', () => void load());
  filter.addEventListener('input', render);
  replace(
    view,
    h(
      'section',
      {},
      h(
        'div',
        { class: 'toolbar' },
        h('h1', {}, 'Audit'),
        filter,
        limit,
        h('button', { type: 'button', onclick: () => void load() }, 'Refresh'),
      ),
      h(
        'table',
        { class: 'grid', id: 'audit' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['When', 'Who', 'What', 'Detail'].map((t) => h('th', {}, t)),
          ),
        ),
        body,
      ),
    ),
  );
  void load().catch((err: Error) => replace(view, h('p', { class: 'error' }, err.message)));
  return () => undefined;
}
