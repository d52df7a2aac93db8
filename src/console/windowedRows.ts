import { h } from './dom.js';

/** Scroll offsets read back within a pixel of what was set (fractional on screens scaled 1.25, 1.5...). */
function sameOffset(a: number, b: number): boolean {
  return Math.abs(a - b) < 1;
}

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
 * Given a way to find an item by key, it also keeps the rows in view still when items come and go
 * above them (the list scrolls by as many rows), so that a fleet's arrivals neither move the row
 * under the operator's pointer nor make every row in view a new one; at the very top, arrivals show.
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
  /** The first item in view at the last render, where it was, and the scroll offset then. */
  private anchor: { key: string; index: number; scrollTop: number } | undefined;

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

  /**
   * Draws the part of `items` in view; `empty` is the message when there are none. `locate` finds
   * an item's place in `items` by key (-1: gone): with it, the rows in view stay where they were
   * unless the operator scrolled since the last render or is at the top.
   */
  render(items: readonly T[], empty: string, locate?: (key: string) => number): void {
    if (items.length === 0) {
      for (const { row } of this.rows.values()) row.remove();
      this.rows.clear();
      this.anchor = undefined;
      this.emptyCell.textContent = empty;
      this.body.replaceChildren(this.emptyRow);
      return;
    }
    if (this.emptyRow.isConnected) this.body.replaceChildren(this.topRow, this.bottomRow);
    // Read before any write of this render: no forced layout.
    const head = this.body.offsetTop; // the table head above the first row, inside the viewport
    const height = this.viewport.clientHeight || 800;
    let scrollTop = this.viewport.scrollTop;
    const moved = this.anchored(scrollTop, locate);
    if (moved !== 0) scrollTop = Math.max(0, Math.round(scrollTop + moved * this.rowHeight));
    const { start, end } = this.window(items.length, scrollTop - head, height);
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
    // After the spacers grew: the browser keeps the offset within the new height.
    if (moved !== 0) this.viewport.scrollTop = scrollTop;
    const first = Math.min(items.length - 1, Math.max(0, Math.floor((scrollTop - head) / this.rowHeight)));
    this.anchor = { key: this.renderer.key(items[first]!), index: first, scrollTop };
    this.measure(items, empty, locate);
  }

  /** How many rows the first item in view moved by since the last render, if the view should follow it. */
  private anchored(scrollTop: number, locate?: (key: string) => number): number {
    const anchor = this.anchor;
    // The operator scrolled (or is at the top, where arrivals should show): the view stays where it is.
    if (!locate || !anchor || !sameOffset(scrollTop, anchor.scrollTop) || scrollTop <= 0) return 0;
    const now = locate(anchor.key);
    return now < 0 ? 0 : now - anchor.index;
  }

  /** Whether the view scrolled since the last render (by the operator, not by the table keeping its rows still). */
  scrolledSinceRender(): boolean {
    return this.anchor === undefined || !sameOffset(this.viewport.scrollTop, this.anchor.scrollTop);
  }

  /** Redraws every row in view in place (e.g. "3 min ago" getting older). */
  refresh(): void {
    for (const { row, item } of this.rows.values()) this.renderer.update(row, item);
  }

  /** How many rows the DOM holds for items now: the test of "only what is visible". */
  get rendered(): number {
    return this.rows.size;
  }

  /** The items to draw for a view `from` pixels below the first row and `height` tall. */
  private window(count: number, from: number, height: number): { start: number; end: number } {
    const top = Math.max(0, from);
    const start = Math.max(0, Math.floor(top / this.rowHeight) - this.overscan);
    const end = Math.min(count, Math.ceil((top + height) / this.rowHeight) + this.overscan);
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

  private measure(items: readonly T[], empty: string, locate?: (key: string) => number): void {
    if (this.measured) return;
    const first = this.rows.values().next().value;
    if (!first) return;
    this.measured = true;
    const real = first.row.getBoundingClientRect().height;
    if (real && Math.abs(real - this.rowHeight) >= 0.5) {
      this.rowHeight = real;
      this.anchor = undefined;
      this.render(items, empty, locate);
    }
  }
}
