import { citusDesired } from './cell-reconciler.js';
import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';

describe('the Citus shape the operator keeps a cell in', () => {
  it('manages the in-cluster worker pods, with the spec\'s shard count and the coordinator\'s Service', () => {
    const cell = exampleCell({ ...EXAMPLE_CELL_SPEC, database: { workers: 2, shardCount: 16, tenantColumn: 'tenant_id', isolatedCustomers: ['acme'] } });
    expect(citusDesired(cell)).toEqual({
      coordinator: { host: 'eu-west-1a-db.cell-eu-west-1a.svc', port: 5432 },
      workers: [
        { host: 'eu-west-1a-db-worker-0.eu-west-1a-db-worker.cell-eu-west-1a.svc', port: 5432 },
        { host: 'eu-west-1a-db-worker-1.eu-west-1a-db-worker.cell-eu-west-1a.svc', port: 5432 },
      ],
      tenantColumn: 'tenant_id',
      shardCount: 16,
      isolatedCustomers: ['acme'],
    });
  });

  it('leaves an external coordinator\'s workers alone unless the spec lists them, and uses its shard count by default', () => {
    const external = { host: '10.0.0.5', port: 6432, database: 'telemetry', secretRef: { name: 'db', namespace: 'ops' } };
    const unmanaged = citusDesired(exampleCell({ ...EXAMPLE_CELL_SPEC, database: { external, tables: [{ name: 'readings' }] } }));
    expect(unmanaged).toEqual({ coordinator: { host: '10.0.0.5', port: 6432 }, tenantColumn: 'customer_id', tenantTables: ['readings'] });

    const managed = citusDesired(exampleCell({ ...EXAMPLE_CELL_SPEC, database: { external: { ...external, workers: [{ host: '10.0.0.6' }] }, shardCount: 8 } }));
    expect(managed).toMatchObject({ workers: [{ host: '10.0.0.6', port: 5432 }], shardCount: 8 });
  });
});
