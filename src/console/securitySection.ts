import { api, enc } from './api.js';
import { field } from './dialog.js';
import { h, replace } from './dom.js';

type Settings = Record<string, number | boolean>;

/** Cluster-wide settings: TLS only, heartbeat, lockout, the primary's weight. Saved one by one. */
export function securitySection(box: HTMLElement): () => Promise<void> {
  async function load(): Promise<void> {
    const { settings } = await api<{ settings: Settings }>('GET', '/config');
    const requireTls = h('input', { type: 'checkbox', name: 'require-tls', checked: Boolean(settings['require-tls']) });
    const heartbeat = h('input', {
      type: 'number',
      name: 'heartbeat',
      min: 0.2,
      step: 'any',
      value: Number(settings.heartbeat),
    });
    const lockout = h('input', {
      type: 'number',
      name: 'lockout-attempts',
      min: 1,
      value: Number(settings['lockout-attempts']),
    });
    const primaryWeight = h('input', {
      type: 'number',
      name: 'primary-weight',
      min: 0,
      value: Number(settings['primary-weight']),
    });
    const status = h('p', { class: 'muted', role: 'status' });
    const form = h(
      'form',
      { class: 'settings' },
      h('label', { class: 'check' }, requireTls, ' Require TLS (refuse plain connections)'),
      field('Heartbeat (seconds)', heartbeat, 'how often clients are checked'),
      field('Lockout after failed logins', lockout, 'then the account and the address wait, longer each time'),
      field('Primary weight', primaryWeight, "the primary's own share of clients"),
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      status,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const next: Settings = {
        'require-tls': requireTls.checked,
        heartbeat: Number(heartbeat.value),
        'lockout-attempts': Number(lockout.value),
        'primary-weight': Number(primaryWeight.value),
      };
      const changed = Object.entries(next).filter(([k, v]) => settings[k] !== v);
      status.textContent = 'saving…';
      status.className = 'muted';
      Promise.all(changed.map(([k, v]) => api('PUT', `/settings/${enc(k)}`, { value: v }))).then(
        () => {
          Object.assign(settings, next);
          status.textContent = changed.length ? `Saved ${changed.map(([k]) => k).join(', ')}.` : 'Nothing changed.';
        },
        (err: Error) => {
          status.textContent = err.message;
          status.className = 'error';
        },
      );
    });
    replace(box, h('h2', {}, 'Security'), form);
  }
  return load;
}
