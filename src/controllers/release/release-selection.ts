// Which cells a CellRelease updates, and in which order: its canary cells first (in the order
// listed, or by name), then the others by name. Pure, over the cells' names and labels.
import type { CellReleaseSpec, CellSelection } from '../../crds/cell-release.js';
import type { LabelSelector } from '../../crds/kube-types.js';

/** Whether `labels` satisfy a Kubernetes label selector (matchLabels and matchExpressions, all of them). */
export function matchesLabelSelector(labels: Readonly<Record<string, string>>, selector: LabelSelector): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(value as string))) return false;
    if (e.operator === 'NotIn' && has && values.includes(value as string)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Whether a cell falls in a selection; no selection means every cell. */
export function inSelection(cell: { name: string; labels: Readonly<Record<string, string>> }, selection: CellSelection | undefined): boolean {
  if (!selection) return true;
  if (selection.names) return selection.names.includes(cell.name);
  if (selection.selector) return matchesLabelSelector(cell.labels, selection.selector);
  return true;
}

/** The selected cells in release order: canary cells first (listed order, else by name), then the rest by name. */
export function releaseOrder<C extends { name: string; labels: Readonly<Record<string, string>> }>(spec: Pick<CellReleaseSpec, 'cells' | 'canary'>, cells: readonly C[]): C[] {
  const selected = cells.filter((c) => inSelection(c, spec.cells)).sort((a, b) => a.name.localeCompare(b.name));
  const canary = spec.canary;
  if (!canary) return selected;
  const isCanary = (c: C) => inSelection(c, canary);
  const listed = canary.names;
  const canaries = selected.filter(isCanary).sort((a, b) => (listed ? listed.indexOf(a.name) - listed.indexOf(b.name) : 0));
  return [...canaries, ...selected.filter((c) => !isCanary(c))];
}
