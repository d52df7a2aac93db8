import { api, setCsrf, type Me } from './api.js';
import { field } from './dialog.js';
import { h, replace } from './dom.js';

/** Operator name, password, and the TOTP code when the operator is enrolled. */
export function loginPage(view: HTMLElement, onLoggedIn: (me: Me) => void): void {
  const operator = h('input', { name: 'operator', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', {
    name: 'totp',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9 ]{6,8}',
    maxlength: 8,
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    { class: 'login card', novalidate: false },
    h('h1', {}, 'Switchboard'),
    field('Operator', operator),
    field('Password', password),
    field('TOTP code', totp, 'if your account has one'),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.textContent = '';
    const body = {
      operator: operator.value.trim(),
      password: password.value,
      ...(totp.value.trim() ? { totp: totp.value.replace(/\s/g, '') } : {}),
    };
    // The token in the answer is for scripts; the console relies on the HttpOnly cookie alone.
    api<Me & { token: string }>('POST', '/login', body).then(
      ({ token: _token, ...me }) => {
        setCsrf(me.csrf);
        onLoggedIn(me);
      },
      (err: Error) => {
        error.textContent = err.message;
        password.value = '';
        totp.value = '';
      },
    );
  });
  replace(view, form);
}
