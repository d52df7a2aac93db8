import { api, ApiFailure, setCsrf, type Me } from './api.js';
import { auditPage } from './auditPage.js';
import { clientsPage } from './clientsPage.js';
import { arriveFromHandover, initConnection, keepHandover, stopHandover } from './connection.js';
import { configPage } from './configPage.js';
import { filesPage } from './filesPage.js';
import { devicesPage } from './devicesPage.js';
import { h, replace } from './dom.js';
import { loginPage } from './loginPage.js';
import { serversPage } from './serversPage.js';
import { terminalPage } from './terminalPage.js';
import { desktopPage } from './desktopPage.js';
import { webPage } from './webPage.js';

/**
 * The console's shell: who is logged in, the tabs they may use, and a hash router (#/clients ...).
 * The server enforces every permission; hiding admin tabs from operators is only a courtesy.
 */
const pages = {
  clients: { title: 'Clients', admin: false, show: clientsPage },
  servers: { title: 'Servers', admin: false, show: (view: HTMLElement) => serversPage(view) },
  config: { title: 'Configuration', admin: true, show: (view: HTMLElement) => configPage(view) },
  devices: { title: 'Devices', admin: true, show: (view: HTMLElement) => devicesPage(view) },
  audit: { title: 'Audit', admin: true, show: (view: HTMLElement) => auditPage(view) },
} as const;
type PageName = keyof typeof pages;

/**
 * Pages about one thing, reached by link rather than by tab: `#/name/<param>` (a client's id), with
 * an optional `?query` (`#/desktop/<id>?port=5900`). Each returns its leave function.
 */
const paramPages: Record<
  string,
  { title: string; show: (view: HTMLElement, param: string, query: URLSearchParams) => () => void }
> = {
  terminal: { title: 'Terminal', show: (view, id) => terminalPage(view, id) },
  desktop: { title: 'Remote desktop', show: (view, id, query) => desktopPage(view, id, query) },
  files: { title: 'Files', show: (view, id) => filesPage(view, id) },
  web: { title: 'Web page', show: (view, id) => webPage(view, id) },
};

/** `#/name/param?query` → its parts (pure); undefined for a plain tab's hash. */
function paramRoute(hash: string): { name: string; param: string; query: URLSearchParams } | undefined {
  const m = /^#\/?([a-z]+)\/([^/?]+)(?:\?(.*))?$/.exec(hash);
  if (!m || !(m[1]! in paramPages)) return undefined;
  let param: string;
  try {
    param = decodeURIComponent(m[2]!);
  } catch {
    return undefined;
  }
  return { name: m[1]!, param, query: new URLSearchParams(m[3] ?? '') };
}

const nav = document.getElementById('nav')!;
const view = document.getElementById('view')!;
const who = document.getElementById('who')!;
let me: Me | undefined;
let leave: () => void = () => undefined;

function pageFromHash(): PageName {
  const name = location.hash.replace(/^#\/?/, '');
  return name in pages ? (name as PageName) : 'clients';
}

function route(): void {
  leave();
  leave = () => undefined;
  if (!me) return showLogin();
  const withParam = paramRoute(location.hash);
  if (withParam) {
    const page = paramPages[withParam.name]!;
    document.title = `${page.title} · Switchboard`;
    for (const link of nav.querySelectorAll('a')) link.classList.remove('active');
    leave = page.show(view, withParam.param, withParam.query);
    return;
  }
  const name = pageFromHash();
  const page = pages[name];
  document.title = `${page.title} · Switchboard`;
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('active', link.dataset.page === name);
  if (page.admin && me.role !== 'admin') {
    replace(
      view,
      h(
        'section',
        { class: 'card', id: 'forbidden' },
        h('h1', {}, page.title),
        h('p', { class: 'error' }, `Only admins can see ${page.title}; you are logged in as operator ${me.operator}.`),
      ),
    );
    return;
  }
  leave = page.show(view, me);
}

function showShell(): void {
  if (!me) return;
  replace(
    nav,
    Object.entries(pages)
      .filter(([, p]) => !p.admin || me!.role === 'admin')
      .map(([name, p]) => h('a', { href: `#/${name}`, 'data-page': name }, p.title)),
  );
  replace(
    who,
    h('span', {}, `${me.operator} (${me.role})`),
    ' ',
    h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'),
  );
  route();
}

function showLogin(): void {
  replace(nav);
  replace(who);
  document.title = 'Log in · Switchboard';
  loginPage(view, (who) => {
    me = who;
    keepHandover();
    showShell();
  });
}

async function logout(): Promise<void> {
  await api('POST', '/logout').catch(() => undefined);
  loggedOut();
}

/** On a member (or a secondary not acting), the API answers 421 with the primary's address. */
function showElsewhere(primary: string): void {
  const url = `${location.protocol}//${primary}/console/`;
  document.title = 'Switchboard';
  replace(
    view,
    h(
      'section',
      { class: 'card', id: 'not-primary' },
      h('h1', {}, 'This server is not the primary'),
      h(
        'p',
        {},
        'The console and its API run on the acting primary of the cluster, which is ',
        h('strong', {}, primary),
        '.',
      ),
      h('p', {}, h('a', { href: url, class: 'button primary' }, `Open the console on ${primary}`)),
    ),
  );
}

window.addEventListener('hashchange', route);
// A session that ended elsewhere (expired, logged out, operator removed) brings back the login page.
window.addEventListener('unhandledrejection', (event) => {
  if (event.reason instanceof ApiFailure && event.reason.status === 401) loggedOut();
});

function loggedOut(): void {
  stopHandover();
  me = undefined;
  setCsrf('');
  leave();
  leave = () => undefined;
  showLogin();
}

// A page that lost its server finds the acting primary again, here or on another server.
initConnection({
  resumed(session) {
    const first = me === undefined;
    me = session;
    setCsrf(session.csrf);
    if (first) showShell();
  },
  loggedOut,
});

if (!arriveFromHandover())
  api<Me>('GET', '/session').then(
    (session) => {
      me = session;
      setCsrf(session.csrf);
      keepHandover();
      showShell();
    },
    (err: unknown) => {
      if (err instanceof ApiFailure && err.status === 421 && typeof err.detail.primary === 'string')
        return showElsewhere(err.detail.primary);
      showLogin();
    },
  );
