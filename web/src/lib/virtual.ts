// Which rows of a long list are worth putting in the DOM: those in view plus a margin, with spacer heights
// standing in for the rest, so 10,000 rows cost as much as 40.

export interface WindowInput {
  scrollTop: number; // px scrolled within the list's rows
  viewportHeight: number; // px of rows visible
  rowHeight: number; // px per row, fixed
  rowCount: number;
  overscan?: number; // rows rendered beyond each edge
}

export interface RowWindow {
  start: number; // first row rendered
  end: number; // one past the last row rendered
  padTop: number; // px above `start`
  padBottom: number; // px below `end`
}

export function computeWindow(input: WindowInput): RowWindow {
  const { rowHeight, rowCount } = input;
  const overscan = input.overscan ?? 8;
  if (rowCount <= 0 || rowHeight <= 0) return { start: 0, end: 0, padTop: 0, padBottom: 0 };
  const scrollTop = Math.max(0, input.scrollTop);
  const viewport = Math.max(0, input.viewportHeight);
  const first = Math.min(rowCount - 1, Math.floor(scrollTop / rowHeight));
  const last = Math.min(rowCount, Math.ceil((scrollTop + viewport) / rowHeight));
  const start = Math.max(0, first - overscan);
  const end = Math.min(rowCount, Math.max(last, first + 1) + overscan);
  return { start, end, padTop: start * rowHeight, padBottom: (rowCount - end) * rowHeight };
}

// The pages (of `pageSize` rows) that hold rows start..end-1.
export function pagesFor(start: number, end: number, pageSize: number): number[] {
  if (end <= start || pageSize <= 0) return [];
  const pages: number[] = [];
  for (let p = Math.floor(start / pageSize); p <= Math.floor((end - 1) / pageSize); p++) pages.push(p);
  return pages;
}

// The scrollTop that brings row `index` fully into view (unchanged when it already is).
export function scrollToReveal(index: number, rowHeight: number, scrollTop: number, viewportHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewportHeight) return top + rowHeight - viewportHeight;
  return scrollTop;
}
