import { h, type Child } from './dom.js';

/**
 * A modal dialog (the native <dialog>): content, and buttons whose handlers may fail; a failure is
 * shown in the dialog and keeps it open, so a rejected change can be corrected.
 */
export function openDialog(
  title: string,
  body: Child | (Child | Child[])[],
  actions: { label: string; primary?: boolean; run?: () => Promise<unknown> | unknown }[],
): HTMLDialogElement {
  const error = h('p', { class: 'error', role: 'alert' });
  const dialog = h('dialog', { class: 'dialog', 'aria-label': title });
  const buttons = actions.map((a) =>
    h(
      'button',
      {
        type: 'button',
        class: a.primary ? 'primary' : '',
        onclick: async () => {
          error.textContent = '';
          try {
            await a.run?.();
            dialog.close();
          } catch (err) {
            error.textContent = (err as Error).message;
          }
        },
      },
      a.label,
    ),
  );
  dialog.append(
    h('h2', {}, title),
    h('div', { class: 'dialog-body' }, ...(Array.isArray(body) ? body : [body])),
    error,
    h('div', { class: 'dialog-actions' }, buttons),
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export function confirmDialog(title: string, text: string, run: () => Promise<unknown>): void {
  openDialog(title, h('p', {}, text), [{ label: 'Cancel' }, { label: 'Delete', primary: true, run }]);
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', {}, hint) : null);
}
