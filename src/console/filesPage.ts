import type { FileEntry } from '../protocol/fileWire.js';
import { api, ApiFailure, csrfHeaders, enc } from './api.js';
import { h, replace } from './dom.js';
import { formatBytes } from './formatBytes.js';

interface Listing {
  path: string;
  entries: FileEntry[];
  truncated: boolean;
}

/** `a/b/c` → its parent `a/b`; the top is ''. */
function parentOf(path: string): string {
  return path.split('/').filter(Boolean).slice(0, -1).join('/');
}

function join(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/**
 * A client's --allow-files directory in the page (#/files/CLIENT): list it, go into folders, download
 * a file (a plain link: the browser streams it, the server checks its SHA-256 on the way) and upload
 * one (sent as it is read from disk, kept by the client only once whole and matching).
 */
export function filesPage(view: HTMLElement, clientId: string): () => void {
  let left = false;
  let dir = '';
  const status = h('p', { class: 'muted', id: 'files-status', 'aria-live': 'polite' });
  const crumbs = h('div', { class: 'crumbs', id: 'files-path' });
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'grid', id: 'files' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Name', 'Size', 'Modified', ''].map((t) => h('th', {}, t)),
      ),
    ),
    body,
  );
  const chooser = h('input', { type: 'file', 'aria-label': 'file to upload', id: 'files-choose' });
  const send = h('button', { type: 'submit' }, 'Upload here');
  const form = h('form', { class: 'toolbar', id: 'files-upload' }, chooser, send);

  const show = (message: string, error = false) => {
    status.textContent = message;
    status.className = error ? 'error' : 'muted';
  };

  async function load(path: string): Promise<void> {
    show('Loading…');
    try {
      const listing = await api<Listing>('GET', `/files/${enc(clientId)}?path=${enc(path)}`);
      if (left) return;
      dir = path;
      replace(
        crumbs,
        h('a', { href: '#', onclick: (e: Event) => (e.preventDefault(), void load('')) }, 'allowed directory'),
        path
          .split('/')
          .filter(Boolean)
          .flatMap((part, i, parts) => [
            ' / ',
            h(
              'a',
              { href: '#', onclick: (e: Event) => (e.preventDefault(), void load(parts.slice(0, i + 1).join('/'))) },
              part,
            ),
          ]),
      );
      const rows = listing.entries.map((e) =>
        h(
          'tr',
          { 'data-name': e.name },
          h(
            'td',
            {},
            e.type === 'dir'
              ? h(
                  'a',
                  { href: '#', onclick: (ev: Event) => (ev.preventDefault(), void load(join(path, e.name))) },
                  `${e.name}/`,
                )
              : e.type === 'link'
                ? `${e.name} →`
                : e.name,
          ),
          h('td', {}, e.type === 'file' ? formatBytes(e.size) : ''),
          h('td', { title: e.mtime }, e.mtime.slice(0, 19).replace('T', ' ')),
          h(
            'td',
            {},
            e.type !== 'dir'
              ? h(
                  'a',
                  {
                    class: 'button',
                    download: e.name,
                    href: `/api/v1/files/${enc(clientId)}/content?path=${enc(join(path, e.name))}`,
                  },
                  'Download',
                )
              : '',
          ),
        ),
      );
      if (path)
        rows.unshift(
          h(
            'tr',
            {},
            h(
              'td',
              { colspan: 4 },
              h('a', { href: '#', onclick: (e: Event) => (e.preventDefault(), void load(parentOf(path))) }, '../'),
            ),
          ),
        );
      replace(body, rows.length ? rows : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'Empty.')));
      show(listing.truncated ? `The first ${listing.entries.length} entries.` : `${listing.entries.length} entries.`);
    } catch (err) {
      if (!left) show((err as Error).message, true);
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = chooser.files?.[0];
    if (!file) return show('Choose a file first.', true);
    const target = join(dir, file.name);
    show(`Uploading ${file.name} (${formatBytes(file.size)})…`);
    send.disabled = true;
    void fetch(`/api/v1/files/${enc(clientId)}/content?path=${enc(target)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...csrfHeaders() },
      body: file,
      credentials: 'same-origin',
    })
      .then(async (res) => {
        const answer = (await res.json().catch(() => ({}))) as {
          sha256?: string;
          error?: { code: string; message: string };
        };
        if (!res.ok)
          throw new ApiFailure(
            res.status,
            answer.error?.code ?? 'SB_ERR_INTERNAL',
            answer.error?.message ?? res.statusText,
          );
        if (left) return;
        await load(dir);
        show(`Uploaded ${target}, SHA-256 ${answer.sha256}.`);
      })
      .catch((err: Error) => !left && show(err.message, true))
      .finally(() => (send.disabled = false));
  });

  replace(
    view,
    h(
      'section',
      { class: 'card', id: 'files-page' },
      h('h1', {}, 'Files on ', h('code', {}, clientId)),
      crumbs,
      table,
      form,
      status,
    ),
  );
  void load('');
  return () => {
    left = true;
  };
}
