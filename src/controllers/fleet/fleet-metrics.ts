// Gauges of every Cell's and Migration's status (the alerts' and dashboards' view of the fleet), read
// from the informer caches at scrape time: pure samples from plain objects, and one collector.
import { Gauge, type Registry } from 'prom-client';
import { CELL_CONDITIONS, CELL_PHASES, CELL_STATES, type Cell } from '../../crds/cell.js';
import { MIGRATION_PHASES, type Migration } from '../../crds/migration.js';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Every metric of this module: name, help and the samples it takes from the fleet. */
export interface FleetMetric {
  name: string;
  help: string;
  labelNames: readonly string[];
  samples(cells: readonly Cell[], migrations: readonly Migration[]): Sample[];
}

/** The `state` label of cell_operator_migration_customers, one per field of status.customers. */
export const MIGRATION_CUSTOMER_STATES = ['total', 'pending', 'inFlight', 'moved', 'failed', 'movedBack'] as const;

const cellLabels = (cell: Cell) => ({ cell: cell.metadata.name ?? '', region: cell.spec.region });

function migrationLabels(m: Migration, regions: Map<string, string>): Record<string, string> {
  // The source's region: a migration never crosses regions for bound customers, and an
  // unknown source (deleted) still gets a label so series do not split.
  return { migration: m.metadata.name ?? '', from: m.spec.from, to: m.spec.to, region: regions.get(m.spec.from) ?? regions.get(m.spec.to) ?? '' };
}

const regionsOf = (cells: readonly Cell[]) => new Map(cells.map((c) => [c.metadata.name ?? '', c.spec.region]));

const oneHot = <T extends string>(all: readonly T[], current: T | undefined, labels: Record<string, string>, key: string): Sample[] =>
  all.map((value) => ({ labels: { ...labels, [key]: value }, value: value === current ? 1 : 0 }));

export const FLEET_METRICS: readonly FleetMetric[] = [
  {
    name: 'cell_operator_cell_ready',
    help: '1 while the Cell has the Ready condition True (Kafka, the database and the workloads ready).',
    labelNames: ['cell', 'region'],
    samples: (cells) =>
      cells.map((c) => ({
        labels: cellLabels(c),
        value: c.status?.conditions?.some((k) => k.type === CELL_CONDITIONS.ready && k.status === 'True') ? 1 : 0,
      })),
  },
  {
    name: 'cell_operator_cell_phase',
    help: 'status.phase of each Cell: 1 for its phase, 0 for the others (Provisioning when not reported yet).',
    labelNames: ['cell', 'region', 'phase'],
    samples: (cells) => cells.flatMap((c) => oneHot(CELL_PHASES, c.status?.phase ?? 'Provisioning', cellLabels(c), 'phase')),
  },
  {
    name: 'cell_operator_cell_state',
    help: 'spec.state of each Cell (Active, Cordoned, Draining): 1 for its state, 0 for the others.',
    labelNames: ['cell', 'region', 'state'],
    samples: (cells) => cells.flatMap((c) => oneHot(CELL_STATES, c.spec.state, cellLabels(c), 'state')),
  },
  {
    name: 'cell_operator_cell_customers',
    help: 'Customers placed in the Cell, plus those reserved by migrations in flight (status.customers).',
    labelNames: ['cell', 'region'],
    samples: (cells) => cells.map((c) => ({ labels: cellLabels(c), value: c.status?.customers ?? 0 })),
  },
  {
    name: 'cell_operator_cell_capacity_customers',
    help: 'Customers the Cell can hold (spec.capacity.maxCustomers).',
    labelNames: ['cell', 'region'],
    samples: (cells) => cells.map((c) => ({ labels: cellLabels(c), value: c.spec.capacity.maxCustomers })),
  },
  {
    name: 'cell_operator_cell_devices',
    help: 'Expected devices of the customers placed in the Cell (status.devices).',
    labelNames: ['cell', 'region'],
    samples: (cells) => cells.map((c) => ({ labels: cellLabels(c), value: c.status?.devices ?? 0 })),
  },
  {
    name: 'cell_operator_cell_capacity_devices',
    help: 'Devices the Cell can hold (spec.capacity.maxDevices).',
    labelNames: ['cell', 'region'],
    samples: (cells) => cells.flatMap((c) => (c.spec.capacity.maxDevices === undefined ? [] : [{ labels: cellLabels(c), value: c.spec.capacity.maxDevices }])),
  },
  {
    name: 'cell_operator_migration_phase',
    help: 'status.phase of each Migration: 1 for its phase, 0 for the others (Pending when not reported yet).',
    labelNames: ['migration', 'from', 'to', 'region', 'phase'],
    samples: (cells, migrations) => {
      const regions = regionsOf(cells);
      return migrations.flatMap((m) => oneHot(MIGRATION_PHASES, m.status?.phase ?? 'Pending', migrationLabels(m, regions), 'phase'));
    },
  },
  {
    name: 'cell_operator_migration_customers',
    help: 'Customers of each Migration by state (status.customers: total, pending, inFlight, moved, failed, movedBack).',
    labelNames: ['migration', 'from', 'to', 'region', 'state'],
    samples: (cells, migrations) => {
      const regions = regionsOf(cells);
      return migrations.flatMap((m) =>
        MIGRATION_CUSTOMER_STATES.map((state) => ({ labels: { ...migrationLabels(m, regions), state }, value: m.status?.customers?.[state] ?? 0 })),
      );
    },
  },
  {
    name: 'cell_operator_migration_current_step',
    help: 'Index (from 0) of the step each Migration is at (status.currentStep); equal to steps once done.',
    labelNames: ['migration', 'from', 'to', 'region'],
    samples: (cells, migrations) => {
      const regions = regionsOf(cells);
      return migrations.map((m) => ({ labels: migrationLabels(m, regions), value: m.status?.currentStep ?? 0 }));
    },
  },
  {
    name: 'cell_operator_migration_steps',
    help: 'Number of steps of each Migration (spec.steps).',
    labelNames: ['migration', 'from', 'to', 'region'],
    samples: (cells, migrations) => {
      const regions = regionsOf(cells);
      return migrations.map((m) => ({ labels: migrationLabels(m, regions), value: m.spec.steps.length }));
    },
  },
];

/**
 * Registers the fleet gauges on `registry`; each scrape reads `source` (the informer caches, kept on
 * every replica), so a standby exports the same truth as the leader and a deleted object's series
 * disappear with it.
 */
export function registerFleetMetrics(registry: Registry, source: () => { cells: readonly Cell[]; migrations: readonly Migration[] }): void {
  for (const metric of FLEET_METRICS) {
    if (registry.getSingleMetric(metric.name)) continue;
    new Gauge({
      name: metric.name,
      help: metric.help,
      labelNames: [...metric.labelNames],
      registers: [registry],
      collect() {
        const { cells, migrations } = source();
        this.reset();
        for (const s of metric.samples(cells, migrations)) this.set(s.labels, s.value);
      },
    });
  }
}
