import { Registry } from 'prom-client';
import { EXAMPLE_CELL_SPEC, exampleCell } from '../cell/example-cell.js';
import { API_VERSION } from '../../crds/group.js';
import { parseMigrationSpec, type Migration } from '../../crds/migration.js';
import type { Cell } from '../../crds/cell.js';
import { FLEET_METRICS, registerFleetMetrics } from './fleet-metrics.js';

function readyCell(name: string, region: string, customers: number, ready: boolean, extra: Partial<NonNullable<Cell['status']>> = {}): Cell {
  const cell = exampleCell({ ...exampleSpec(region) }, { name });
  cell.status = {
    phase: ready ? 'Ready' : 'Degraded',
    customers,
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'Ready' : 'KafkaNotReady', message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    ...extra,
  };
  return cell;
}

function exampleSpec(region: string) {
  return { ...EXAMPLE_CELL_SPEC, region, capacity: { maxCustomers: 1000 } };
}

function migration(name: string, from: string, to: string, status?: Migration['status']): Migration {
  const spec = parseMigrationSpec({ from, to, customers: { all: true }, steps: [{ move: 1 }, { pause: {} }, { move: '100%' }] });
  if (!spec.ok) throw new Error('bad spec');
  return { apiVersion: API_VERSION, kind: 'Migration', metadata: { name }, spec: spec.value, ...(status ? { status } : {}) };
}

async function scrape(cells: Cell[], migrations: Migration[]): Promise<string> {
  const registry = new Registry();
  registerFleetMetrics(registry, () => ({ cells, migrations }));
  return registry.metrics();
}

describe('the fleet metrics', () => {
  it('say which cells are ready, with their cell and region', async () => {
    const text = await scrape([readyCell('eu-1a', 'eu-west-1', 5, true), readyCell('us-1a', 'us-east-1', 0, false)], []);
    expect(text).toContain('cell_operator_cell_ready{cell="eu-1a",region="eu-west-1"} 1');
    expect(text).toContain('cell_operator_cell_ready{cell="us-1a",region="us-east-1"} 0');
  });

  it('give one series per phase with 1 on the phase the cell is in, Draining included', async () => {
    const text = await scrape([readyCell('eu-1a', 'eu-west-1', 5, true, { phase: 'Draining' })], []);
    expect(text).toContain('cell_operator_cell_phase{cell="eu-1a",region="eu-west-1",phase="Draining"} 1');
    expect(text).toContain('cell_operator_cell_phase{cell="eu-1a",region="eu-west-1",phase="Ready"} 0');
    expect(text.match(/^cell_operator_cell_phase\{/gm)).toHaveLength(6);
  });

  it('report customers against capacity so that a near-full cell can be alerted on', async () => {
    const text = await scrape([readyCell('eu-1a', 'eu-west-1', 950, true)], []);
    expect(text).toContain('cell_operator_cell_customers{cell="eu-1a",region="eu-west-1"} 950');
    expect(text).toContain('cell_operator_cell_capacity_customers{cell="eu-1a",region="eu-west-1"} 1000');
  });

  it('show a cordoned cell by its spec.state', async () => {
    const cell = readyCell('eu-1a', 'eu-west-1', 1, true);
    cell.spec.state = 'Cordoned';
    const text = await scrape([cell], []);
    expect(text).toContain('cell_operator_cell_state{cell="eu-1a",region="eu-west-1",state="Cordoned"} 1');
    expect(text).toContain('cell_operator_cell_state{cell="eu-1a",region="eu-west-1",state="Active"} 0');
  });

  it("give a migration's phase and customers by state, labelled with its cells and the source's region", async () => {
    const m = migration('drain-eu-1a', 'eu-1a', 'eu-1b', { phase: 'Failed', currentStep: 2, customers: { total: 10, moved: 7, failed: 3 } });
    const text = await scrape([readyCell('eu-1a', 'eu-west-1', 1, true)], [m]);
    const labels = 'migration="drain-eu-1a",from="eu-1a",to="eu-1b",region="eu-west-1"';
    expect(text).toContain(`cell_operator_migration_phase{${labels},phase="Failed"} 1`);
    expect(text).toContain(`cell_operator_migration_phase{${labels},phase="Progressing"} 0`);
    expect(text).toContain(`cell_operator_migration_customers{${labels},state="moved"} 7`);
    expect(text).toContain(`cell_operator_migration_customers{${labels},state="failed"} 3`);
    expect(text).toContain(`cell_operator_migration_customers{${labels},state="inFlight"} 0`);
    expect(text).toContain(`cell_operator_migration_current_step{${labels}} 2`);
    expect(text).toContain(`cell_operator_migration_steps{${labels}} 3`);
  });

  it('forget a deleted object at the next scrape', async () => {
    const cells = [readyCell('eu-1a', 'eu-west-1', 1, true)];
    const registry = new Registry();
    registerFleetMetrics(registry, () => ({ cells, migrations: [] }));
    expect(await registry.metrics()).toContain('cell="eu-1a"');
    cells.pop();
    expect(await registry.metrics()).not.toContain('cell="eu-1a"');
  });

  it('export a status not reported yet as Provisioning and Pending, never as nothing', () => {
    const cell = exampleCell(undefined, { name: 'new' });
    const phases = FLEET_METRICS.find((m) => m.name === 'cell_operator_cell_phase')!.samples([cell], []);
    expect(phases.filter((s) => s.value === 1).map((s) => s.labels.phase)).toEqual(['Provisioning']);
    const mPhases = FLEET_METRICS.find((m) => m.name === 'cell_operator_migration_phase')!.samples([], [migration('m', 'a', 'b')]);
    expect(mPhases.filter((s) => s.value === 1).map((s) => s.labels.phase)).toEqual(['Pending']);
  });
});
