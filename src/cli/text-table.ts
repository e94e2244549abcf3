// Columns aligned the way kubectl prints them: upper-case headers, two spaces between columns.

export interface TableOptions {
  /** Columns (by index) aligned to the right, for numbers. */
  right?: readonly number[];
}

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = new Set(options.right ?? []);
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => {
        const cell = cells[i] ?? '';
        return right.has(i) ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Cuts lines to the terminal width so that a redraw never wraps (a wrapped line breaks it). */
export function fitWidth(lines: readonly string[], columns: number | undefined): string[] {
  if (!columns || columns < 10) return [...lines];
  return lines.map((l) => (l.length > columns ? `${l.slice(0, columns - 1)}…` : l));
}
