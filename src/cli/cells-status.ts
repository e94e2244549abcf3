// `kubectl cells status`: every Cell with its readiness and a capacity bar, a summary line, why
// the cells that are not Ready are not, and the migrations that are not over.
import { CELL_CONDITIONS } from '../crds/cell.js';
import { getCondition } from '../runtime/conditions.js';
import { currentStep, describeStep } from './migration-state.js';
import type { ObservedCell, ObservedMigration } from './observed.js';
import { count, percent, textBar } from './text-bar.js';
import { formatTable } from './text-table.js';

export interface Readiness {
  ready: boolean;
  /** `Ready`, `NotReady (KafkaNotReady)`, `Unknown (no status yet)`. */
  text: string;
  /** The Ready condition's message, when the cell is not Ready. */
  message?: string;
}

/** Readiness from the Ready condition, with its reason when it is not True. */
export function cellReadiness(cell: ObservedCell): Readiness {
  const condition = getCondition(cell.status?.conditions, CELL_CONDITIONS.ready);
  if (!condition) {
    return { ready: false, text: 'Unknown (no status yet)', message: 'The operator has not reported on this cell yet: is it running?' };
  }
  if (condition.status === 'True') return { ready: true, text: 'Ready' };
  const label = condition.status === 'False' ? 'NotReady' : 'Unknown';
  return { ready: false, text: `${label} (${condition.reason})`, ...(condition.message ? { message: condition.message } : {}) };
}

/** `[#####.....]  48%  48,000/100,000`; the placed customers against spec.capacity.maxCustomers. */
export function capacityColumn(cell: ObservedCell): string {
  const customers = cell.status?.customers ?? 0;
  const max = cell.spec?.capacity?.maxCustomers;
  if (!max) return `${textBar(0, 0)}    ?  ${count(customers)}/?`;
  return `${textBar(customers, max)} ${percent(customers, max).padStart(4)}  ${count(customers)}/${count(max)}`;
}

const byRegionThenName = (a: ObservedCell, b: ObservedCell): number =>
  (a.spec?.region ?? '').localeCompare(b.spec?.region ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

export function renderCellsTable(cells: readonly ObservedCell[]): string[] {
  if (cells.length === 0) return ['No Cells in this cluster. Examples to start from: examples/cells/ (kubectl apply -f examples/cells/).'];
  const sorted = [...cells].sort(byRegionThenName);
  const rows = sorted.map((c) => [
    c.metadata.name ?? '',
    c.spec?.region ?? '',
    c.spec?.state ?? 'Active',
    c.status?.phase ?? '-',
    cellReadiness(c).text,
    capacityColumn(c),
  ]);
  const lines = formatTable(['CELL', 'REGION', 'STATE', 'PHASE', 'READY', 'CUSTOMERS'], rows);

  const placed = cells.reduce((sum, c) => sum + (c.status?.customers ?? 0), 0);
  const capacity = cells.reduce((sum, c) => sum + (c.spec?.capacity?.maxCustomers ?? 0), 0);
  const regions = new Set(cells.map((c) => c.spec?.region ?? '')).size;
  const ready = cells.filter((c) => cellReadiness(c).ready).length;
  lines.push(
    '',
    `${cells.length} cell(s) in ${regions} region(s), ${ready} Ready; ${count(placed)} of ${count(capacity)} customers placed (${percent(placed, capacity)}).`,
  );

  const notReady = sorted.flatMap((c) => {
    const r = cellReadiness(c);
    return r.ready || !r.message ? [] : [`  ${c.metadata.name ?? ''}: ${r.message}`];
  });
  if (notReady.length > 0) lines.push('', 'Not Ready:', ...notReady);
  // A drain's cordon lives in the control-plane database, not in spec.state: say who holds it.
  const drained = sorted.flatMap((c) => {
    const cordon = c.status?.conditions?.find((k) => k.type === 'Cordoned');
    return cordon?.status === 'True' && cordon.reason === 'DrainingByMigration' ? [`  ${c.metadata.name ?? ''}: ${cordon.message ?? ''}`] : [];
  });
  if (drained.length > 0) lines.push('', 'Cordoned by a drain (no new customers):', ...drained);
  return lines;
}

/** Migrations that still need watching: all but the Succeeded and Aborted ones. */
export function renderMigrationsTable(migrations: readonly ObservedMigration[]): string[] {
  const open = migrations
    .filter((m) => m.status?.phase !== 'Succeeded' && m.status?.phase !== 'Aborted')
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  if (open.length === 0) return [];
  const rows = open.map((m) => {
    const at = currentStep(m);
    const customers = m.status?.customers;
    return [
      m.metadata.name ?? '',
      m.spec?.from ?? '',
      m.spec?.to ?? '',
      m.spec?.abort ? `${m.status?.phase ?? 'Pending'} (aborting)` : (m.status?.phase ?? 'Pending'),
      at ? `${at.index}: ${describeStep(at.step)}` : '-',
      `${textBar(customers?.moved ?? 0, customers?.total ?? 0)} ${count(customers?.moved ?? 0)}/${count(customers?.total ?? 0)}`,
    ];
  });
  return [
    ...formatTable(['MIGRATION', 'FROM', 'TO', 'PHASE', 'STEP', 'MOVED'], rows),
    '',
    'Follow one with: kubectl cells migration watch <name>',
  ];
}

export function renderStatus(cells: readonly ObservedCell[], migrations: readonly ObservedMigration[]): string {
  const migrationLines = renderMigrationsTable(migrations);
  return [...renderCellsTable(cells), ...(migrationLines.length > 0 ? ['', ...migrationLines] : [])].join('\n') + '\n';
}
