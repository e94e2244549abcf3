// The chart's alerts and Grafana dashboards query metrics the code defines: every cell_* metric
// name they use is defined in src/ (prom-client `name: '...'`). test/e2e/metrics-exported.test.ts
// checks the same against what a running operator and router really serve.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const root = process.cwd();
const FILES = path.join(root, 'charts/cell-operator/files');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sources(full);
    return full.endsWith('.ts') && !full.endsWith('.test.ts') ? [full] : [];
  });
}

function exported(): Set<string> {
  const names = new Set<string>();
  for (const file of sources(path.join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/name:\s*'((?:cell_operator|cell_router)_[a-z0-9_]+)'/g)) names.add(m[1]!);
  }
  return names;
}

/** Metric names in PromQL, histogram series reduced to the histogram's name. */
function used(promql: string[]): Set<string> {
  const names = new Set<string>();
  for (const q of promql) for (const m of q.matchAll(/\b(cell_(?:operator|router)_[a-z0-9_]+)/g)) names.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
  return names;
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  gridPos: { x: number; y: number; w: number; h: number };
}

const dashboard = JSON.parse(readFileSync(path.join(FILES, 'dashboard.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };
const fleet = JSON.parse(readFileSync(path.join(FILES, 'fleet-dashboard.json'), 'utf8')) as typeof dashboard;
const fleetQueries = fleet.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const alerts = parse(readFileSync(path.join(FILES, 'alerts.yaml'), 'utf8')) as {
  groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string; description: string } }[] }[];
};
const alertRules = alerts.groups.flatMap((g) => g.rules);
const dashboardQueries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

describe('the chart monitoring', () => {
  const defined = exported();

  it.each([
    ['the dashboard', dashboardQueries],
    ['the fleet dashboard', fleetQueries],
    ['the alerts', alertRules.map((r) => r.expr)],
  ])('%s query only metrics the code defines', (_what, queries) => {
    const unknown = [...used(queries)].filter((n) => !defined.has(n));
    expect(unknown).toEqual([]);
  });

  it('alert on reconcile errors, a cell not ready, a failed or stalled migration and a router not ready', () => {
    expect(alertRules.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['CellOperatorReconcileErrors', 'CellNotReady', 'MigrationFailed', 'MigrationStalled', 'CellRouterDown', 'CellRouterNotReady']),
    );
    for (const rule of alertRules) {
      expect(['info', 'warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(10);
      expect(rule.annotations.description.length).toBeGreaterThan(20);
      // Scoped to the release: the chart replaces NAMESPACE.
      expect(rule.expr).toContain('namespace="NAMESPACE"');
    }
  });

  it('show cells by phase, customers per cell, migration progress and throughput, reconcile errors and latency', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Cells by phase', 'Customers per cell', 'Migration progress (moved / total)', 'Copy throughput (rows/s)', 'Reconcile errors', 'Reconcile latency (p50, p99)']) {
      expect(titles).toContain(t);
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'namespace']);
    for (const q of dashboardQueries) expect(q).toContain('namespace=~"$namespace"');
  });

  it('give a fleet view across clusters and regions: cells by state, capacity per cell, migrations, moves, fence time, Kafka', () => {
    const titles = fleet.panels.map((p) => p.title);
    for (const t of ['Cells by phase', 'Cells by state', 'Capacity used per cell', 'Migrations in flight', 'Move throughput (rows/s)', 'Fenced time per move (p99)', 'Consumer lag per cell and group']) {
      expect(titles).toContain(t);
    }
    expect(fleet.templating.list.map((v) => v.name)).toEqual(['datasource', 'region']);
    // A global query sees many releases: never tied to one namespace.
    for (const q of fleetQueries) expect(q).not.toContain('namespace');
  });

  it.each([
    ['dashboard', dashboard],
    ['fleet dashboard', fleet],
  ])('lay the %s panels out without overlap', (_name, board) => {
    const cells = new Set<string>();
    for (const p of board.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const key = `${x},${y}`;
          if (cells.has(key)) throw new Error(`panel "${p.title}" overlaps another at ${key}`);
          cells.add(key);
        }
      }
    }
  });
});
