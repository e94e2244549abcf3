// Every metric that the chart's alerts and Grafana dashboards query is one that a running operator
// and router really serve: the operator runs a small migration (so move metrics have samples), the
// router runs as `cell-operator router`, both /metrics are scraped and compared with every metric
// name in charts/cell-operator/files/.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parse } from 'yaml';
import { freePort } from './cluster/processes.js';
import { apply, waitFor } from './support/kube.js';
import { migrationManifest, startMigrationWorld, type MigrationWorld } from './support/migration-world.js';

const root = process.cwd();
const FILES = path.join(root, 'charts/cell-operator/files');
const MIGRATION = 'metrics-e2e';

function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Every PromQL expression of the alerts (every rule file) and of the dashboards (every JSON file). */
function chartQueries(): { file: string; expr: string }[] {
  const queries: { file: string; expr: string }[] = [];
  const walk = (o: unknown, file: string): void => {
    if (Array.isArray(o)) o.forEach((x) => walk(x, file));
    else if (o && typeof o === 'object') {
      for (const [k, v] of Object.entries(o)) {
        if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') queries.push({ file, expr: v });
        else walk(v, file);
      }
    }
  };
  for (const file of readdirSync(FILES)) {
    const text = readFileSync(path.join(FILES, file), 'utf8');
    if (file.endsWith('.json')) walk(JSON.parse(text), file);
    else if (file.endsWith('.yaml') && !file.endsWith('.test.yaml')) walk(parse(text), file);
  }
  return queries;
}

/** Names of the operator's and router's metrics in PromQL, histogram series reduced to the histogram. */
function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(cell_(?:operator|router)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')))];
}

/** Metric families of a /metrics page, with their samples. */
function families(body: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const line of body.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) result.set(type[1]!, []);
    else if (line && !line.startsWith('#')) {
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0].replace(/_(bucket|sum|count)$/, '');
      result.get(name)?.push(line);
    }
  }
  return result;
}

describe('the metrics the chart queries', () => {
  let world: MigrationWorld;
  let router: ChildProcess | undefined;
  let routerPort = 0;
  let routerOutput = '';

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'metrics', region: 'eu-metrics-1', customers: 2, readingsPerCustomer: 5 });
    await apply(migrationManifest(world, MIGRATION, { customers: { all: true }, steps: [{ move: '100%' }], drainWait: '100ms', retention: '1s' }));
    await waitFor(async () => (await world.migration(MIGRATION)).status?.phase === 'Succeeded', { timeoutMs: 120_000, intervalMs: 500, description: 'the migration to succeed' });
    routerPort = await freePort();
    router = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), 'router', `--database-url=${world.controlPlane.url}`, '--host=127.0.0.1', `--port=${routerPort}`], {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    router.stdout!.on('data', (c: Buffer) => (routerOutput += c.toString()));
    router.stderr!.on('data', (c: Buffer) => (routerOutput += c.toString()));
    await waitFor(async () => (await get(routerPort, '/readyz').catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 60_000, description: `the router to be ready (${routerOutput.slice(-500)})` });
  }, 300_000);

  afterAll(async () => {
    router?.kill('SIGTERM');
    await world?.cleanup([MIGRATION]);
  }, 120_000);

  it('are all served by the operator or the router', async () => {
    const operator = families((await world.operator.get('/metrics')).body);
    const routerFamilies = families((await get(routerPort, '/metrics')).body);
    const missing: string[] = [];
    for (const { file, expr } of chartQueries()) {
      for (const name of metricNames(expr)) {
        if (operator.has(name) || routerFamilies.has(name)) continue;
        missing.push(`${name} (${file}: ${expr.slice(0, 80)})`);
      }
    }
    expect(missing).toEqual([]);
    // The comparison saw the names it is about: the cell and migration gauges, moves, the router.
    const used = new Set(chartQueries().flatMap((q) => metricNames(q.expr)));
    for (const name of ['cell_operator_cell_ready', 'cell_operator_cell_phase', 'cell_operator_cell_customers', 'cell_operator_cell_capacity_customers', 'cell_operator_migration_phase', 'cell_operator_migration_customers', 'cell_router_http_requests_total']) {
      expect(used).toContain(name);
    }
  }, 60_000);

  it('give every cell series its cell and region, and every migration series its cells', async () => {
    const operator = families((await world.operator.get('/metrics')).body);
    for (const [name, samples] of operator) {
      if (name.startsWith('cell_operator_cell_')) {
        // capacity_devices has none: these cells set no spec.capacity.maxDevices.
        if (name !== 'cell_operator_cell_capacity_devices') expect([name, samples.length > 0]).toEqual([name, true]);
        for (const s of samples) expect(s).toMatch(/cell="[^"]+".*region="[^"]+"/);
      }
      if (name.startsWith('cell_operator_migration_')) {
        expect(samples.length).toBeGreaterThan(0);
        for (const s of samples) expect(s).toMatch(/migration="[^"]+",from="[^"]+",to="[^"]+",region="eu-metrics-1"/);
      }
    }
    expect(operator.get('cell_operator_cell_ready')).toEqual(
      expect.arrayContaining([`cell_operator_cell_ready{cell="${world.sourceCell}",region="eu-metrics-1"} 1`, `cell_operator_cell_ready{cell="${world.targetCell}",region="eu-metrics-1"} 1`]),
    );
    expect(operator.get('cell_operator_cell_capacity_customers')).toContain(`cell_operator_cell_capacity_customers{cell="${world.sourceCell}",region="eu-metrics-1"} 100`);
  }, 60_000);

  it('tell the truth about the migration that ran: Succeeded, both customers moved, rows copied', async () => {
    const operator = families((await world.operator.get('/metrics')).body);
    const labels = `migration="${MIGRATION}",from="${world.sourceCell}",to="${world.targetCell}",region="eu-metrics-1"`;
    expect(operator.get('cell_operator_migration_phase')).toContain(`cell_operator_migration_phase{${labels},phase="Succeeded"} 1`);
    expect(operator.get('cell_operator_migration_customers')).toEqual(
      expect.arrayContaining([`cell_operator_migration_customers{${labels},state="total"} 2`, `cell_operator_migration_customers{${labels},state="moved"} 2`]),
    );
    const rows = operator.get('cell_operator_move_rows_copied_total')!.map((s) => Number(s.split(' ').pop()));
    expect(rows.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * 5);
    expect(operator.get('cell_operator_move_fence_seconds')!.some((s) => /_count \d+/.test(s) && !s.endsWith(' 0'))).toBe(true);
  }, 60_000);
});
