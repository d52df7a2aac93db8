import { api, type Client, type Me } from './api.js';
import { connectDialog } from './clientConnect.js';
import { ClientList } from './clientList.js';
import { CLIENT_COLUMNS, clientRows, COLUMN_CLASSES } from './clientRow.js';
import { Selection, useSelection } from './clientSelection.js';
import { RunOnSelected } from './multiExec.js';
import { h, replace, setText } from './dom.js';
import { subscribe } from './live.js';
import { WindowedRows } from './windowedRows.js';

export { forwardCommand, localPortFor } from './clientConnect.js';

/** Clients per request while loading: the API's largest page, so 60,000 take 12 requests. */
const PAGE = 5000;
/**
 * Live changes are applied and drawn at most this often: a fleet may send a thousand a second, and
 * each redraw costs a layout and a paint however few rows changed, so a burst is one batch (one
 * merge into the sorted list, one redraw) rather than one per event or per frame.
 */
const LIVE_EVERY_MS = 200;
/** The group choices are rebuilt at most this often (a fleet may report many groups, and churn). */
const GROUPS_EVERY_MS = 1000;
const ALL_GROUPS = '*';

/**
 * Every client the operator may see, searchable, kept current by the event stream. The list is
 * loaded page by page (GET /clients?limit=&cursor=); client-up and client-down events are queued
 * and applied as one batch (clientList.ts) at most every LIVE_EVERY_MS, at a frame; the table
 * draws only the rows in view (windowedRows.ts) and keeps them still when clients come and go
 * above them. So 60,000 clients and 1,000 arrivals a second cost a map entry per event and, five
 * times a second, one merge and a few dozen rows.
 */
export function clientsPage(view: HTMLElement, me: Me): () => void {
  const list = new ClientList<Client>();
  const selection = new Selection((id) => list.get(id));
  useSelection(selection);
  const runOnSelected = new RunOnSelected(() => selection.clients());
  const search = h('input', { type: 'search', placeholder: 'Search name, address, platform…', 'aria-label': 'search' });
  const group = h('select', { 'aria-label': 'group' }, h('option', { value: ALL_GROUPS }, 'All groups'));
  const count = h('span', { class: 'muted count' });
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'grid clients', id: 'clients' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        CLIENT_COLUMNS.map((t, i) => h('th', { class: COLUMN_CLASSES[i] }, t)),
      ),
    ),
    body,
  );
  const viewport = h('div', { class: 'list-viewport' }, table);
  const rows = new WindowedRows(
    viewport,
    body,
    clientRows({
      connect: (c) => connectDialog(me, c),
      isSelected: (id) => selection.has(id),
      select: (id, on) => {
        selection.set(id, on);
        runOnSelected.refresh();
      },
    }),
    CLIENT_COLUMNS.length,
  );

  /** The group choice: undefined for all, '' for "(none)" (clients without a group), else the name. */
  function chosenGroup(): string | undefined {
    return group.value === ALL_GROUPS ? undefined : group.value.slice(1);
  }

  let groupsShown = -1;
  let groupsAt = 0;
  function renderGroups(now: number): void {
    if (groupsShown === list.groupsVersion || now - groupsAt < GROUPS_EVERY_MS) return;
    groupsShown = list.groupsVersion;
    groupsAt = now;
    const chosen = chosenGroup();
    const groups = list.groups();
    if (chosen !== undefined && !groups.includes(chosen)) groups.push(chosen);
    replace(
      group,
      h('option', { value: ALL_GROUPS }, 'All groups'),
      groups.map((g) => h('option', { value: `=${g}`, selected: g === chosen }, g || '(none)')),
    );
  }

  /** Live changes not applied yet (the last word on each id). */
  const pending = new Map<string, Client | undefined>();
  let frame = 0;
  function render(): void {
    frame = 0;
    if (pending.size) {
      list.apply(pending);
      pending.clear();
      liveAt = performance.now();
    }
    rows.render(list.shown, list.size ? 'No client matches.' : 'No client is connected.', (id) => list.indexOf(id));
    renderGroups(performance.now());
    setText(count, `${list.shown.length} of ${list.size}`);
    runOnSelected.refresh();
  }
  /** Many events, one redraw: at the next frame. */
  function schedule(): void {
    if (!frame) frame = requestAnimationFrame(render);
  }
  let liveAt = -Infinity;
  let liveTimer: ReturnType<typeof setTimeout> | undefined;
  /** A live change: applied with the others at the next frame once LIVE_EVERY_MS has passed since the last batch. */
  function scheduleLive(): void {
    if (liveTimer !== undefined) return;
    liveTimer = setTimeout(
      () => {
        liveTimer = undefined;
        schedule();
      },
      Math.max(0, liveAt + LIVE_EVERY_MS - performance.now()),
    );
  }

  function refilter(): void {
    list.setFilter({ text: search.value, group: chosenGroup() });
    viewport.scrollTop = 0;
    schedule();
  }

  /**
   * Loads (or, after the stream reopened, reloads) every page. Events keep applying meanwhile:
   * a client that left during the load is not brought back by a page taken before it left, and one
   * that was listed before but is in no page (and did not arrive meanwhile) is gone.
   */
  let loads = 0;
  let loading = false;
  let upDuringLoad = new Set<string>();
  let downDuringLoad = new Set<string>();
  async function load(): Promise<void> {
    const generation = ++loads;
    loading = true;
    upDuringLoad = new Set();
    downDuringLoad = new Set();
    const listed = new Set<string>();
    let cursor: string | null = null;
    do {
      const query = `/clients?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page: { clients: Client[]; next: string | null } = await api('GET', query);
      if (generation !== loads) return;
      const batch = new Map<string, Client>();
      for (const c of page.clients) {
        listed.add(c.id);
        if (!downDuringLoad.has(c.id) && !upDuringLoad.has(c.id)) batch.set(c.id, c);
      }
      list.apply(batch);
      schedule();
      cursor = page.next;
    } while (cursor);
    const missing = new Map<string, undefined>();
    for (const id of list.ids()) if (!listed.has(id) && !upDuringLoad.has(id)) missing.set(id, undefined);
    list.apply(missing);
    loading = false;
    upDuringLoad = new Set();
    downDuringLoad = new Set();
    schedule();
  }

  search.addEventListener('input', refilter);
  group.addEventListener('change', refilter);
  // Not when the table scrolled itself to keep the rows in view still: that render is done.
  viewport.addEventListener('scroll', () => rows.scrolledSinceRender() && schedule(), { passive: true });
  const resized = () => {
    rows.remeasure();
    schedule();
  };
  window.addEventListener('resize', resized);
  replace(
    view,
    h(
      'section',
      { class: 'clients-page' },
      h('div', { class: 'toolbar' }, h('h1', {}, 'Clients'), search, group, count, runOnSelected.runButton),
      viewport,
    ),
  );
  render();
  // Loaded once the stream is open (and again each time it reopens): an arrival after that is an
  // idempotent upsert, never lost; one before it is in the pages.
  const stop = subscribe({
    clientUp: (c) => {
      if (loading) {
        upDuringLoad.add(c.id);
        downDuringLoad.delete(c.id);
      }
      pending.set(c.id, c);
      scheduleLive();
    },
    clientDown: (id) => {
      if (loading) {
        downDuringLoad.add(id);
        upDuringLoad.delete(id);
      }
      pending.set(id, undefined);
      scheduleLive();
    },
    opened: () => void load().catch((err: Error) => replace(view, h('p', { class: 'error' }, err.message))),
  });
  // Refresh "connected since" now and then; no data is fetched for it.
  const timer = setInterval(() => rows.refresh(), 30_000);
  return () => {
    stop();
    clearInterval(timer);
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(liveTimer);
    window.removeEventListener('resize', resized);
    useSelection(undefined);
  };
}
