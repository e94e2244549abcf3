// Example Cells for tests and documentation: the DESIGN.md cell, parsed (and so defaulted) exactly
// as the API server and the reconciler would see it.
import { parseCellSpec, type Cell, type CellSpecInput } from '../../crds/cell.js';
import { API_VERSION } from '../../crds/group.js';
import { formatFieldErrors } from '../../crds/parse.js';

export const EXAMPLE_CELL_SPEC = {
  region: 'eu-west-1',
  state: 'Active',
  capacity: { maxCustomers: 100000, maxDevices: 10000000 },
  weight: 100,
  kafka: {
    version: '4.1.0',
    controllers: { replicas: 3, storage: { size: '20Gi' } },
    brokers: { replicas: 3, storage: { size: '500Gi', class: 'gp3' } },
    topics: [{ name: 'telemetry', partitions: 500, replicas: 3, retentionHours: 168 }],
  },
  database: { workers: 10, shardCount: 32, storage: { size: '1Ti' }, tenantColumn: 'customer_id' },
  workloads: [
    { name: 'copilot-api', image: 'registry.example.com/copilot-api:1.4.2', replicas: 3, port: 8080, kafka: { read: ['telemetry'] } },
    { name: 'ingest', image: 'registry.example.com/ingest:2.0.1', replicas: 6, kafka: { write: ['telemetry'] } },
  ],
  deletionPolicy: 'Retain',
} satisfies CellSpecInput;

/** A Cell as read from the API server: parsed spec, a uid and a generation. */
export function exampleCell(
  spec: CellSpecInput = EXAMPLE_CELL_SPEC,
  metadata: { name?: string; uid?: string; generation?: number } = {},
): Cell {
  const parsed = parseCellSpec(spec);
  if (!parsed.ok) throw new Error(`invalid example Cell spec: ${formatFieldErrors(parsed.errors)}`);
  return {
    apiVersion: API_VERSION,
    kind: 'Cell',
    metadata: {
      name: metadata.name ?? 'eu-west-1a',
      uid: metadata.uid ?? '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f',
      generation: metadata.generation ?? 1,
    },
    spec: parsed.value,
  };
}
