import { h, replace } from './dom.js';
import { keysSection } from './keysSection.js';
import { operatorsSection } from './operatorsSection.js';
import { securitySection } from './securitySection.js';
import { serverTableSection } from './serverTableSection.js';

/** Configuration, for admins: each section loads on its own and reloads after each change. */
export function configPage(view: HTMLElement): () => void {
  const boxes = [
    h('section', { id: 'cfg-servers', class: 'card' }),
    h('section', { id: 'cfg-keys', class: 'card' }),
    h('section', { id: 'cfg-operators', class: 'card' }),
    h('section', { id: 'cfg-security', class: 'card' }),
  ] as const;
  replace(
    view,
    h('div', { class: 'toolbar' }, h('h1', {}, 'Configuration')),
    h('p', { class: 'muted' }, 'Changes apply at once and replicate to every member.'),
    ...boxes,
  );
  const loaders = [
    serverTableSection(boxes[0]),
    keysSection(boxes[1]),
    operatorsSection(boxes[2]),
    securitySection(boxes[3]),
  ];
  loaders.forEach(
    (load, i) => void load().catch((err: Error) => replace(boxes[i]!, h('p', { class: 'error' }, err.message))),
  );
  return () => undefined;
}
