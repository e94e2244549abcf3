import { planCitus, type CitusFacts, type CitusNode, type CitusTable } from './citus-topology.js';

const worker = (host: string, over: Partial<CitusNode> = {}): CitusNode => ({ host, port: 5432, isActive: true, shouldHaveShards: true, placements: 4, ...over });
const table = (name: string, over: Partial<CitusTable> = {}): CitusTable => ({
  name,
  schema: 'public',
  table: name,
  hasTenantColumn: true,
  kind: 'local',
  ...over,
});
const facts = (over: Partial<CitusFacts> = {}): CitusFacts => ({
  version: '13.2.2',
  coordinatorRegistered: true,
  workers: [],
  rebalanceRunning: false,
  plannedMoves: 0,
  tables: [],
  isolated: {},
  ...over,
});
const desired = { coordinator: { host: 'coord', port: 5432 }, tenantColumn: 'customer_id', shardCount: 8 };

describe('planCitus', () => {
  it('registers the coordinator before the workers it must call back, then every missing worker', () => {
    const plan = planCitus(facts({ coordinatorRegistered: false, workers: [worker('w0')] }), {
      ...desired,
      workers: [{ host: 'w0', port: 5432 }, { host: 'w1', port: 5432 }],
    });
    expect(plan.actions).toEqual([
      { kind: 'SetCoordinatorHost', host: 'coord', port: 5432 },
      { kind: 'AddWorker', host: 'w1', port: 5432 },
    ]);
  });

  it('leaves the coordinator\'s workers alone when the spec does not list them', () => {
    const plan = planCitus(facts({ workers: [worker('w0'), worker('w1')] }), desired);
    expect(plan.actions).toEqual([]);
  });

  it('distributes the tenant tables co-located with the first one, which gets the shard count, after the reference tables', () => {
    const plan = planCitus(
      facts({ tables: [table('readings'), table('devices'), table('device_types', { hasTenantColumn: false })] }),
      desired,
    );
    expect(plan.actions).toEqual([
      { kind: 'CreateReferenceTable', table: 'device_types' },
      { kind: 'DistributeTable', table: 'devices', column: 'customer_id', shardCount: 8 },
      { kind: 'DistributeTable', table: 'readings', column: 'customer_id', colocateWith: 'devices' },
    ]);
  });

  it('co-locates a new tenant table with one already distributed by the tenant column', () => {
    const plan = planCitus(
      facts({ tables: [table('alerts'), table('readings', { kind: 'distributed', distributionColumn: 'customer_id', shardCount: 32 })] }),
      desired,
    );
    expect(plan.actions).toEqual([{ kind: 'DistributeTable', table: 'alerts', column: 'customer_id', colocateWith: 'readings' }]);
  });

  it('treats only the listed tables as tenant tables when the spec lists them', () => {
    const plan = planCitus(facts({ tables: [table('readings'), table('audit')] }), { ...desired, tenantTables: ['public.readings'] });
    expect(plan.actions).toEqual([
      { kind: 'CreateReferenceTable', table: 'audit' },
      { kind: 'DistributeTable', table: 'readings', column: 'customer_id', shardCount: 8 },
    ]);
  });

  it('spreads shards onto a new worker with a background rebalance', () => {
    const plan = planCitus(facts({ workers: [worker('w0'), worker('w1')], tables: [table('readings', { kind: 'distributed', distributionColumn: 'customer_id' })] }), {
      ...desired,
      workers: ['w0', 'w1', 'w2'].map((host) => ({ host, port: 5432 })),
    });
    expect(plan.actions).toEqual([
      { kind: 'AddWorker', host: 'w2', port: 5432 },
      { kind: 'StartRebalance', reason: 'spreading shards onto 1 new worker(s)' },
    ]);
  });

  it('drains a worker that left the spec before removing it, and removes it once it is empty', () => {
    const spec = { ...desired, workers: [{ host: 'w0', port: 5432 }] };
    const draining = planCitus(facts({ workers: [worker('w0'), worker('w1')] }), spec);
    expect(draining.actions).toEqual([
      { kind: 'StopPlacingShards', host: 'w1', port: 5432 },
      { kind: 'StartRebalance', reason: 'moving shards off w1:5432' },
    ]);
    expect(draining.draining).toEqual(['w1:5432']);

    const moving = planCitus(facts({ workers: [worker('w0'), worker('w1', { shouldHaveShards: false })], rebalanceRunning: true }), spec);
    expect(moving.actions).toEqual([]);
    expect(moving.draining).toEqual(['w1:5432']);

    const empty = planCitus(facts({ workers: [worker('w0', { placements: 8 }), worker('w1', { shouldHaveShards: false, placements: 0 })] }), spec);
    expect(empty.actions).toEqual([{ kind: 'RemoveWorker', host: 'w1', port: 5432 }]);
    expect(empty.draining).toEqual([]);
  });

  it('isolates a listed customer not yet in shards of its own, on the co-location anchor, once the tables are distributed and no rebalance runs', () => {
    const tables = [table('readings', { kind: 'distributed', distributionColumn: 'customer_id' }), table('devices', { kind: 'distributed', distributionColumn: 'customer_id' })];
    const spec = { ...desired, isolatedCustomers: ['big-corp', 'done-corp'] };
    expect(planCitus(facts({ tables, isolated: { 'big-corp': false, 'done-corp': true } }), spec).actions).toEqual([
      { kind: 'IsolateCustomer', table: 'devices', customer: 'big-corp' },
    ]);
    expect(planCitus(facts({ tables, isolated: { 'big-corp': false }, rebalanceRunning: true }), spec).actions).toEqual([]);
    expect(planCitus(facts({ tables: [table('readings')], isolated: {} }), spec).actions).toEqual([
      { kind: 'DistributeTable', table: 'readings', column: 'customer_id', shardCount: 8 },
    ]);
  });

  it('starts no second rebalance while one runs', () => {
    const plan = planCitus(facts({ workers: [worker('w0'), worker('w1')], rebalanceRunning: true, plannedMoves: 3 }), desired);
    expect(plan.actions).toEqual([]);
  });
});
