import { h } from './dom.js';

/** How a windowed table draws one item: its key, a new row for it, and an update of a row in place. */
export interface RowRenderer<T> {
  key(item: T): string;
  build(item: T): HTMLTableRowElement;
  update(row: HTMLTableRowElement, item: T): void;
}

/**
 * A table body that holds rows only for what can be seen (plus a few either side), however long the
 * list: two spacer rows stand in for the rest, so the scroll bar still spans everything. Rows are
 * kept by key between renders: an item that stays in view keeps its row (and whatever the user is
 * doing in it: a focused button, an open menu), and an arrival adds one row rather than rebuilding all.
 */
export class WindowedRows<T> {
  private readonly rows = new Map<string, { row: HTMLTableRowElement; item: T }>();
  private readonly top = h('td');
  private readonly bottom = h('td');
  private readonly topRow = h('tr', { class: 'spacer', 'aria-hidden': 'true' }, this.top);
  private readonly bottomRow = h('tr', { class: 'spacer', 'aria-hidden': 'true' }, this.bottom);
  private readonly emptyCell = h('td', { class: 'muted' });
  private readonly emptyRow = h('tr', { class: 'empty' }, this.emptyCell);
  private rowHeight: number;
  private readonly overscan: number;

  constructor(
    /** The element that scrolls (it holds the table). */
    private readonly viewport: HTMLElement,
    private readonly body: HTMLTableSectionElement,
    private readonly renderer: RowRenderer<T>,
    columns: number,
    options: { rowHeight?: number; overscan?: number } = {},
  ) {
    this.rowHeight = options.rowHeight ?? 37;
    this.overscan = options.overscan ?? 8;
    for (const cell of [this.top, this.bottom, this.emptyCell]) cell.colSpan = columns;
    body.replaceChildren(this.topRow, this.bottomRow);
  }

  /** Draws the part of `items` in view; `empty` is the message when there are none. */
  render(items: readonly T[], empty: string): void {
    if (items.length === 0) {
      for (const { row } of this.rows.values()) row.remove();
      this.rows.clear();
      this.emptyCell.textContent = empty;
      this.body.replaceChildren(this.emptyRow);
      return;
    }
    if (this.emptyRow.isConnected) this.body.replaceChildren(this.topRow, this.bottomRow);
    const { start, end } = this.window(items.length);
    this.top.style.height = `${start * this.rowHeight}px`;
    this.bottom.style.height = `${(items.length - end) * this.rowHeight}px`;
    this.topRow.hidden = start === 0;
    this.bottomRow.hidden = end === items.length;

    const wanted = new Set<string>();
    for (let i = start; i < end; i++) wanted.add(this.renderer.key(items[i]!));
    for (const [key, { row }] of this.rows)
      if (!wanted.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    let next: ChildNode | null = this.topRow.nextSibling;
    for (let i = start; i < end; i++) {
      const item = items[i]!;
      const key = this.renderer.key(item);
      let kept = this.rows.get(key);
      if (!kept) {
        kept = { row: this.renderer.build(item), item };
        this.rows.set(key, kept);
      } else if (kept.item !== item) {
        this.renderer.update(kept.row, item);
        kept.item = item;
      }
      if (kept.row === next) next = next.nextSibling;
      else this.body.insertBefore(kept.row, next);
    }
    this.measure(items, empty);
  }

  /** Redraws every row in view in place (e.g. "3 min ago" getting older). */
  refresh(): void {
    for (const { row, item } of this.rows.values()) this.renderer.update(row, item);
  }

  /** How many rows the DOM holds for items now: the test of "only what is visible". */
  get rendered(): number {
    return this.rows.size;
  }

  private window(count: number): { start: number; end: number } {
    const head = this.body.offsetTop; // the table head above the first row, inside the viewport
    const from = Math.max(0, this.viewport.scrollTop - head);
    const height = this.viewport.clientHeight || 800;
    const start = Math.max(0, Math.floor(from / this.rowHeight) - this.overscan);
    const end = Math.min(count, Math.ceil((from + height) / this.rowHeight) + this.overscan);
    return { start, end: Math.max(start, end) };
  }

  /**
   * Rows are as tall as the stylesheet makes them: adopt the real height once it is known. Once, and
   * again after `remeasure()` (reading it forces a layout, which a redraw per frame should not pay for).
   */
  private measured = false;
  remeasure(): void {
    this.measured = false;
  }

  private measure(items: readonly T[], empty: string): void {
    if (this.measured) return;
    const first = this.rows.values().next().value;
    if (!first) return;
    this.measured = true;
    const real = first.row.getBoundingClientRect().height;
    if (real && Math.abs(real - this.rowHeight) >= 0.5) {
      this.rowHeight = real;
      this.render(items, empty);
    }
  }
}
