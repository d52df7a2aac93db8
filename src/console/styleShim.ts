/**
 * The console's Content-Security-Policy refuses inline styles (`style-src 'self'`), and xterm.js
 * writes its theme and cell sizes into <style> elements it creates. Rather than weaken the policy
 * for every page, a <style> element made by script gets its text routed into a constructed
 * stylesheet (CSSOM, which the policy allows, as it allows `element.style`): the element itself
 * stays empty, so nothing is refused and nothing inline is ever parsed from markup.
 */
let installed = false;

export function routeScriptStylesToSheets(doc: Document = document): void {
  if (installed) return;
  installed = true;
  const create = doc.createElement.bind(doc) as (tag: string, options?: ElementCreationOptions) => HTMLElement;
  doc.createElement = function (tag: string, options?: ElementCreationOptions) {
    const el = create(tag, options);
    if (tag.toLowerCase() === 'style') adoptInto(doc, el);
    return el;
  } as Document['createElement'];
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
