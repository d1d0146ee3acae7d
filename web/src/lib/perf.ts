// Performance marks read by the browser benchmark: window.__latticePerf gets {name, t} pushed.

export interface PerfMark {
  name: string;
  t: number;
}

declare global {
  interface Window {
    __latticePerf?: PerfMark[];
  }
}

export function initPerf(): void {
  if (!Array.isArray(window.__latticePerf)) window.__latticePerf = [];
}

export function mark(name: string): void {
  initPerf();
  window.__latticePerf?.push({ name, t: performance.now() });
}

// Marks `name` only the first time (pages re-render; the benchmark wants the first moment).
export function markOnce(name: string): void {
  initPerf();
  if (window.__latticePerf?.some((m) => m.name === name)) return;
  mark(name);
}
