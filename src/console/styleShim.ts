/**
 * The console's Content-Security-Policy refuses inline styles (`style-src 'self'`), and xterm.js
 * writes its theme and cell sizes into <style> elements it creates, and a true-colour cell's colour
 * into a `style` attribute. Rather than weaken the policy for every page, both go through CSSOM,
 * which the policy allows: a <style> made by script is an inert <template> whose text goes into a
 * constructed stylesheet (even an empty <style> in the page would be refused), and a `style`
 * attribute set by script is set as `element.style.cssText`. Nothing inline is ever parsed from markup.
 */
let installed = false;

export function routeScriptStylesToSheets(doc: Document = document): void {
  if (installed) return;
  installed = true;
  const create = doc.createElement.bind(doc) as (tag: string, options?: ElementCreationOptions) => HTMLElement;
  doc.createElement = function (tag: string, options?: ElementCreationOptions) {
    if (tag.toLowerCase() !== 'style') return create(tag, options);
    const el = create('template');
    adoptInto(doc, el);
    return el;
  } as Document['createElement'];
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string) {
    if (name.toLowerCase() === 'style' && this instanceof HTMLElement) this.style.cssText = value;
    else setAttribute.call(this, name, value);
  };
}

function adoptInto(doc: Document, el: HTMLElement): void {
  const sheet = new CSSStyleSheet();
  let text = '';
  const attach = () => {
    if (!doc.adoptedStyleSheets.includes(sheet)) doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
  };
  Object.defineProperty(el, 'textContent', {
    get: () => text,
    set: (value: string | null) => {
      text = value ?? '';
      sheet.replaceSync(text);
      attach();
    },
  });
  Object.defineProperty(el, 'innerText', { get: () => text, set: (v: string) => (el.textContent = v) });
  const remove = el.remove.bind(el);
  el.remove = () => {
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
    remove();
  };
}
