import { CellSpecSchema } from '../../src/crds/cell.js';
import { DEMO_SHARD_COUNT, demoPlan, type DemoDatabaseEndpoint } from './demo-manifests.js';

type CellLike = { kind: string; metadata: { name: string }; spec: { database: { external?: { host: string; port: number; workers?: unknown }; shardCount?: number } } };

const cellsOf = (endpoints: Map<string, DemoDatabaseEndpoint>) => demoPlan().manifests(endpoints).filter((m) => m.kind === 'Cell') as unknown as CellLike[];

describe("the demo's cells", () => {
  const plan = demoPlan();

  it('name their Citus coordinator and its workers, in the demo shard count, as a Cell spec the API server accepts', () => {
    const endpoints = new Map(plan.cells.map((c, i) => [c.name, { host: '127.0.0.1', port: 20_000 + i, workers: [{ host: '127.0.0.1', port: 21_000 + i }, { host: '127.0.0.1', port: 22_000 + i }] }]));
    const cells = cellsOf(endpoints);
    expect(cells).toHaveLength(plan.cells.length);
    for (const [i, cell] of cells.entries()) {
      expect(cell.spec.database).toMatchObject({
        external: { host: '127.0.0.1', port: 20_000 + i, workers: [{ host: '127.0.0.1', port: 21_000 + i }, { host: '127.0.0.1', port: 22_000 + i }] },
        shardCount: DEMO_SHARD_COUNT,
      });
      expect(CellSpecSchema.safeParse(cell.spec).success).toBe(true);
    }
  });

  it('name a plain PostgreSQL server alone when there are no workers (the fallback without Citus)', () => {
    const cells = cellsOf(new Map(plan.cells.map((c) => [c.name, { host: '127.0.0.1', port: 15_432 }])));
    for (const cell of cells) {
      expect(cell.spec.database.external?.workers).toBeUndefined();
      expect(cell.spec.database.shardCount).toBeUndefined();
      expect(CellSpecSchema.safeParse(cell.spec).success).toBe(true);
    }
  });
});
