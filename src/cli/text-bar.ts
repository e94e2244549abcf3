// Text bars for the terminal, `[#####.....]`: how full a cell is, how far a migration got.

/**
 * A bar of `width` cells for `done` out of `total`. Rounded, except that something is never drawn
 * as nothing and unfinished is never drawn as full. Beyond 100% the bar is full.
 */
export function textBar(done: number, total: number, width = 10): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  let filled = Math.round(ratio * width);
  if (done > 0 && total > 0 && filled === 0) filled = 1;
  if (done < total && filled === width) filled = width - 1;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** Whole percent, rounded down so that 99.7% does not read as done; `<1%` for a start. */
export function percent(done: number, total: number): string {
  if (total <= 0) return '0%';
  const p = Math.floor((done / total) * 100);
  return p === 0 && done > 0 ? '<1%' : `${p}%`;
}

/** 1234567 → `1,234,567`, the same on every machine whatever its locale. */
export function count(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}
