import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { cellStatus, servesCustomers, type ObservedCellChildren } from './cell-status.js';
import { buildDatabaseStatefulSets } from './database-builder.js';
import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import { buildKafka, buildKafkaNodePools, buildKafkaTopics, buildKafkaUsers } from './kafka-builder.js';
import { buildWorkloads } from './workload-builder.js';
import type { Cell, CellStatus } from '../../crds/cell.js';
import type { Kafka } from '../../crds/strimzi/index.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const LATER = new Date('2026-03-01T12:05:00.000Z');
const ready = { type: 'Ready', status: 'True' };

/** The world as it is when everything the cell needs is up. */
function healthyWorld(cell: Cell): ObservedCellChildren {
  const generation = 1;
  const meta = <T extends { metadata?: object }>(o: T) => ({ ...o, metadata: { ...o.metadata, generation } });
  const kafka: Kafka = {
    ...meta(buildKafka(cell)),
    status: {
      observedGeneration: generation,
      conditions: [ready],
      clusterId: 'abc',
      listeners: [
        { name: 'plain', bootstrapServers: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092' },
        { name: 'tls', bootstrapServers: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9093' },
      ],
    },
  };
  const statefulSets = buildDatabaseStatefulSets(cell).map((s): V1StatefulSet => {
    const n = s.spec?.replicas ?? 0;
    return { ...meta(s), status: { observedGeneration: generation, replicas: n, readyReplicas: n, updatedReplicas: n, availableReplicas: n } };
  });
  const deployments = buildWorkloads(cell, { kafkaBootstrap: 'x' })
    .filter((o): o is V1Deployment => o.kind === 'Deployment')
    .map((d): V1Deployment => {
      const n = d.spec?.replicas ?? 0;
      const available = [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }];
      return { ...meta(d), status: { observedGeneration: generation, replicas: n, readyReplicas: n, updatedReplicas: n, availableReplicas: n, conditions: available } };
    });
  return {
    kafka,
    nodePools: buildKafkaNodePools(cell).map((p) => ({ ...meta(p), status: { observedGeneration: generation, replicas: p.spec.replicas } })),
    topics: buildKafkaTopics(cell).map((t) => ({ ...meta(t), status: { observedGeneration: generation, conditions: [ready] } })),
    users: buildKafkaUsers(cell).map((u) => ({ ...meta(u), status: { observedGeneration: generation, conditions: [ready] } })),
    statefulSets,
    deployments,
    database: { connected: true, engine: 'Citus', serverVersion: '17.2', workers: 10, shardCount: 32 },
    customers: 9812,
  };
}

function condition(status: CellStatus, type: string) {
  const c = status.conditions?.find((x) => x.type === type);
  return c && { status: c.status, reason: c.reason, message: c.message };
}

describe('the status of a cell', () => {
  const cell = exampleCell();

  it('is Ready with every condition True and no kstatus abnormality when the world is healthy', () => {
    const status = cellStatus(cell, healthyWorld(cell), NOW);
    expect(status.phase).toBe('Ready');
    expect(status.observedGeneration).toBe(1);
    expect(status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Ready'],
      ['KafkaReady', 'True', 'KafkaReady'],
      ['DatabaseReady', 'True', 'Connected'],
      ['WorkloadsReady', 'True', 'WorkloadsAvailable'],
      ['Cordoned', 'False', 'Active'],
    ]);
    expect(status.conditions?.every((c) => c.lastTransitionTime === '2026-03-01T12:00:00Z' && c.observedGeneration === 1)).toBe(true);
    expect(status).not.toHaveProperty('message');
    expect(status).toMatchObject({
      namespace: 'cell-eu-west-1a',
      customers: 9812,
      endpoints: {
        kafkaBootstrap: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092',
        kafkaBootstrapTls: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9093',
        database: 'eu-west-1a-db.cell-eu-west-1a.svc:5432',
        databaseSecret: 'eu-west-1a-db-credentials',
      },
      database: { engine: 'Citus', serverVersion: '17.2', workers: 10, shardCount: 32 },
      workloads: [
        { name: 'copilot-api', replicas: 3, readyReplicas: 3 },
        { name: 'ingest', replicas: 6, readyReplicas: 6 },
      ],
    });
  });

  it('is Provisioning, Reconciling and says what is missing when nothing exists yet', () => {
    const status = cellStatus(cell, {}, NOW);
    expect(status.phase).toBe('Provisioning');
    expect(condition(status, 'KafkaReady')).toEqual({ status: 'False', reason: 'KafkaNotCreated', message: 'Kafka eu-west-1a does not exist yet.' });
    expect(condition(status, 'DatabaseReady')).toMatchObject({ status: 'False', reason: 'DatabaseStarting' });
    expect(condition(status, 'WorkloadsReady')).toEqual({
      status: 'False',
      reason: 'WorkloadsProgressing',
      message: 'Workloads not ready: copilot-api does not exist yet; ingest does not exist yet.',
    });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'KafkaNotCreated' });
    expect(condition(status, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing' });
    expect(condition(status, 'Stalled')).toBeUndefined();
    expect(status.message).toContain('Kafka eu-west-1a does not exist yet.');
    expect(status.customers).toBe(0);
    // The endpoints are the Services' addresses, known before anything reports them.
    expect(status.endpoints?.kafkaBootstrap).toBe('eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092');
  });

  it("follows Strimzi's Creating status and waits for the Kafka to observe its generation", () => {
    const world = healthyWorld(cell);
    const creating = { ...world, kafka: { ...world.kafka, status: { conditions: [{ type: 'NotReady', status: 'True', reason: 'Creating', message: 'Kafka cluster is being deployed' }] } } } as ObservedCellChildren;
    expect(condition(cellStatus(cell, creating, NOW), 'KafkaReady')).toMatchObject({ status: 'False', reason: 'KafkaReconciling' });
    const stale = { ...world, kafka: { ...world.kafka, metadata: { ...world.kafka?.metadata, generation: 2 } } } as ObservedCellChildren;
    expect(condition(cellStatus(cell, stale, NOW), 'KafkaReady')).toEqual({
      status: 'False',
      reason: 'KafkaReconciling',
      message: 'Strimzi is rolling out generation 2 of Kafka eu-west-1a.',
    });
    expect(condition(cellStatus(cell, { ...world, kafka: { ...world.kafka, status: undefined } as Kafka }, NOW), 'KafkaReady')?.reason).toBe('KafkaPending');
  });

  it('is Degraded and Stalled when Strimzi reports the Kafka broken at its current generation', () => {
    const world = healthyWorld(cell);
    const broken = {
      ...world,
      kafka: { ...world.kafka, status: { ...world.kafka?.status, conditions: [{ type: 'NotReady', status: 'True', reason: 'InvalidResourceException', message: 'Kafka 9.9.9 is not supported' }] } },
    } as ObservedCellChildren;
    const status = cellStatus(cell, broken, NOW);
    expect(status.phase).toBe('Degraded');
    expect(condition(status, 'KafkaReady')).toEqual({
      status: 'False',
      reason: 'KafkaNotReady',
      message: 'Kafka eu-west-1a is not ready (InvalidResourceException: Kafka 9.9.9 is not supported).',
    });
    expect(condition(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'KafkaNotReady' });
    expect(condition(status, 'Reconciling')).toBeUndefined();
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'KafkaNotReady' });
  });

  it('waits for node pools to reach their size, and names a broken topic', () => {
    const world = healthyWorld(cell);
    const scaling = { ...world, nodePools: world.nodePools?.map((p) => (p.metadata?.name === 'brokers' ? { ...p, status: { ...p.status, replicas: 2 } } : p)) };
    expect(condition(cellStatus(cell, scaling, NOW), 'KafkaReady')).toEqual({
      status: 'False',
      reason: 'KafkaEntitiesPending',
      message: 'Kafka eu-west-1a is ready but node pool brokers has 2 of 3 nodes.',
    });
    const badTopic = {
      ...world,
      topics: world.topics?.map((t) => ({ ...t, status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'KafkaError', message: 'replication factor 3 larger than available brokers 2' }] } })),
    };
    expect(condition(cellStatus(cell, badTopic, NOW), 'KafkaReady')).toEqual({
      status: 'False',
      reason: 'KafkaEntityNotReady',
      message: 'Kafka eu-west-1a is ready but topic telemetry is not ready (KafkaError: replication factor 3 larger than available brokers 2).',
    });
  });

  it('counts database pods and registered Citus workers before the database is ready', () => {
    const world = healthyWorld(cell);
    const starting: ObservedCellChildren = {
      ...world,
      statefulSets: world.statefulSets?.map((s): V1StatefulSet =>
        s.metadata?.name === 'eu-west-1a-db-worker' ? { ...s, status: { replicas: 10, ...s.status, readyReplicas: 7 } } : s,
      ),
    };
    expect(condition(cellStatus(cell, starting, NOW), 'DatabaseReady')).toEqual({
      status: 'False',
      reason: 'DatabaseStarting',
      message: 'The database is starting: workers eu-west-1a-db-worker has 7/10 pods ready.',
    });
    const unregistered = { ...world, database: { connected: true as const, engine: 'Citus' as const, workers: 4 } };
    expect(condition(cellStatus(cell, unregistered, NOW), 'DatabaseReady')).toEqual({
      status: 'False',
      reason: 'WorkersNotRegistered',
      message: '4 of 10 Citus workers are registered and active on the coordinator.',
    });
  });

  it('says so and carries on when the database is plain PostgreSQL', () => {
    const world = { ...healthyWorld(cell), database: { connected: true as const, engine: 'PostgreSQL' as const, serverVersion: '17.6' } };
    const status = cellStatus(cell, world, NOW);
    expect(status.phase).toBe('Ready');
    expect(condition(status, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'ConnectedWithoutCitus' });
    expect(status.database).toEqual({ engine: 'PostgreSQL', serverVersion: '17.6' });
  });

  it('reports a wrong password on an external database as Stalled, without crashing anything', () => {
    const external = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      database: { external: { host: '127.0.0.1', port: 54321, database: 'telemetry', sslMode: 'disable', secretRef: { name: 'db', namespace: 'ops' } } },
    });
    const world: ObservedCellChildren = {
      ...healthyWorld(external),
      statefulSets: [],
      database: { connected: false, reason: 'AuthenticationFailed', message: 'password authentication failed for user "app"', stalled: true },
    };
    const status = cellStatus(external, world, NOW);
    expect(status.phase).toBe('Degraded');
    expect(condition(status, 'DatabaseReady')).toEqual({
      status: 'False',
      reason: 'AuthenticationFailed',
      message: 'Cannot connect to the database at 127.0.0.1:54321: password authentication failed for user "app"',
    });
    expect(condition(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed' });
    expect(status.endpoints?.database).toBe('127.0.0.1:54321');
  });

  it('is Ready for an external database that answers, with no StatefulSets to wait for', () => {
    const external = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      database: { external: { host: 'db.example.com', database: 'telemetry', secretRef: { name: 'db', namespace: 'ops' } } },
    });
    const world = { ...healthyWorld(external), statefulSets: [], database: { connected: true as const, engine: 'PostgreSQL' as const } };
    expect(cellStatus(external, world, NOW).phase).toBe('Ready');
  });

  it('says which Citus version and how many active workers an external Citus cell has, and what it is rebalancing', () => {
    const external = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      database: {
        external: {
          host: '127.0.0.1',
          port: 6000,
          database: 'telemetry',
          secretRef: { name: 'db', namespace: 'ops' },
          workers: [{ host: '127.0.0.1', port: 6001 }],
        },
      },
    });
    const check = {
      connected: true as const,
      engine: 'Citus' as const,
      citusVersion: '13.2.2',
      workers: 1,
      shardCount: 8,
      distributedTables: 2,
      referenceTables: 1,
      rebalancing: true,
      drainingWorkers: ['127.0.0.1:6002'],
      isolatedCustomers: ['big-corp'],
    };
    const status = cellStatus(external, { ...healthyWorld(external), statefulSets: [], database: check }, NOW);
    expect(condition(status, 'DatabaseReady')).toEqual({
      status: 'True',
      reason: 'Connected',
      message:
        'Connected to Citus 13.2.2 with 1 active worker(s) at 127.0.0.1:6000; 2 tenant table(s) distributed in 8 co-located shards, 1 reference table(s); 1 customer(s) in shards of their own; moving shards off 127.0.0.1:6002 before removing it.',
    });
    expect(status.database).toMatchObject({ citusVersion: '13.2.2', workers: 1, rebalancing: true, drainingWorkers: ['127.0.0.1:6002'], isolatedCustomers: ['big-corp'] });

    const unregistered = { ...check, workers: 0, problems: [{ reason: 'WorkerRegistrationFailed', message: 'Cannot register worker 127.0.0.1:6001 (citus_add_node): connection refused.' }] };
    expect(condition(cellStatus(external, { ...healthyWorld(external), statefulSets: [], database: unregistered }, NOW), 'DatabaseReady')).toEqual({
      status: 'False',
      reason: 'WorkerRegistrationFailed',
      message: 'Cannot register worker 127.0.0.1:6001 (citus_add_node): connection refused.',
    });
  });

  it('marks a workload past its progress deadline as failing and names it', () => {
    const world = healthyWorld(cell);
    const failing = {
      ...world,
      deployments: world.deployments?.map((d) =>
        d.metadata?.name === 'ingest'
          ? {
              ...d,
              status: {
                ...d.status,
                availableReplicas: 2,
                conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "ingest-7d9" has timed out progressing.' }],
              },
            }
          : d,
      ),
    } as ObservedCellChildren;
    const status = cellStatus(cell, failing, NOW);
    expect(condition(status, 'WorkloadsReady')).toEqual({
      status: 'False',
      reason: 'WorkloadFailed',
      message: 'Workloads not ready: ingest is failing (ProgressDeadlineExceeded: ReplicaSet "ingest-7d9" has timed out progressing.).',
    });
    expect(status.phase).toBe('Degraded');
  });

  it('waits while pods of the old template still run beside new ones that are not ready (a new version that never starts)', () => {
    const world = healthyWorld(cell);
    // ingest wants 6 pods: 6 updated, of which 1 not ready, and the surge kept an old pod running.
    const stuck = { ...world, deployments: world.deployments?.map((d) => (d.metadata?.name === 'ingest' ? { ...d, status: { ...d.status, replicas: 7, updatedReplicas: 6, availableReplicas: 6 } } : d)) };
    expect(condition(cellStatus(cell, stuck, NOW), 'WorkloadsReady')).toEqual({
      status: 'False',
      reason: 'WorkloadsProgressing',
      message: 'Workloads not ready: ingest is rolling out (1 old pod(s) still running).',
    });
  });

  describe('a release rolling out', () => {
    /** ingest (6 pods) half-way through a rollout: a new template, 3 pods updated, 5 available. */
    const rollingOut = (world: ObservedCellChildren, available: 'True' | 'False'): ObservedCellChildren => ({
      ...world,
      deployments: world.deployments?.map((d) =>
        d.metadata?.name === 'ingest'
          ? {
              ...d,
              metadata: { ...d.metadata, generation: 2 },
              status: { ...d.status, observedGeneration: 2, replicas: 7, updatedReplicas: 3, availableReplicas: available === 'True' ? 5 : 2, conditions: [{ type: 'Available', status: available }] },
            }
          : d,
      ),
    });

    it('keeps a cell that was Ready open to customers while every Deployment stays Available (phase Updating, not Degraded)', () => {
      const world = healthyWorld(cell);
      const wasReady = { ...cell, status: cellStatus(cell, world, NOW) };
      const status = cellStatus(wasReady, rollingOut(world, 'True'), LATER);
      expect(status.phase).toBe('Updating');
      expect(servesCustomers(status.phase)).toBe(true);
      // Ready stays False until the rollout ends: a CellRelease bakes only a finished rollout.
      expect(condition(status, 'Ready')).toEqual({
        status: 'False',
        reason: 'WorkloadsProgressing',
        message: 'Workloads not ready: ingest is rolling out (5/6 available). The cell still serves its customers and takes new ones while it updates.',
      });
      expect(condition(status, 'Reconciling')).toMatchObject({ status: 'True' });
      expect(condition(status, 'Stalled')).toBeUndefined();
      // And Ready again once it is done.
      const updating = { ...wasReady, status };
      const done = cellStatus(updating, world, LATER);
      expect(done.phase).toBe('Ready');
      expect(cellStatus({ ...updating, status: cellStatus(updating, rollingOut(world, 'True'), LATER) }, rollingOut(world, 'True'), LATER).phase).toBe('Updating');
    });

    it('calls it Degraded, closed to customers, when the rollout takes a Deployment below its minimum (Available False)', () => {
      const world = healthyWorld(cell);
      const wasReady = { ...cell, status: cellStatus(cell, world, NOW) };
      const status = cellStatus(wasReady, rollingOut(world, 'False'), LATER);
      expect(status.phase).toBe('Degraded');
      expect(servesCustomers(status.phase)).toBe(false);
      expect(status.message).not.toContain('still serves');
    });

    it('does not open a cell that was never Ready (a first rollout is provisioning)', () => {
      const status = cellStatus(cell, rollingOut(healthyWorld(cell), 'True'), NOW);
      expect(status.phase).toBe('Provisioning');
      expect(servesCustomers(status.phase)).toBe(false);
    });

    it('keeps it open while Strimzi rolls a Kafka that was Ready, not while one that was not', () => {
      const world = healthyWorld(cell);
      const wasReady = { ...cell, status: cellStatus(cell, world, NOW) };
      const rolling = { ...world, kafka: { ...world.kafka, metadata: { ...world.kafka?.metadata, generation: 2 } } } as ObservedCellChildren;
      expect(cellStatus(wasReady, rolling, LATER).phase).toBe('Updating');
      const notReadyBefore = {
        ...rolling,
        kafka: { ...rolling.kafka, status: { ...rolling.kafka?.status, conditions: [{ type: 'NotReady', status: 'True', reason: 'KafkaError' }] } },
      } as ObservedCellChildren;
      expect(cellStatus(wasReady, notReadyBefore, LATER).phase).toBe('Degraded');
    });

    it('is Degraded when a rollout comes with another part lost (the database away)', () => {
      const world = healthyWorld(cell);
      const wasReady = { ...cell, status: cellStatus(cell, world, NOW) };
      const both = { ...rollingOut(world, 'True'), database: { connected: false, reason: 'ConnectionRefused', message: 'connect ECONNREFUSED' } } as ObservedCellChildren;
      expect(cellStatus(wasReady, both, LATER).phase).toBe('Degraded');
    });
  });

  it('calls a cell that was Ready and lost a pod Degraded, not Provisioning', () => {
    const world = healthyWorld(cell);
    const wasReady = { ...cell, status: cellStatus(cell, world, NOW) };
    const onePodDown = { ...world, deployments: world.deployments?.map((d) => ({ ...d, status: { ...d.status, availableReplicas: 1 } })) };
    const status = cellStatus(wasReady, onePodDown, LATER);
    expect(status.phase).toBe('Degraded');
    expect(condition(status, 'Reconciling')).toMatchObject({ status: 'True' });
  });

  it('moves lastTransitionTime only for conditions whose status changed', () => {
    const world = healthyWorld(cell);
    const first = { ...cell, status: cellStatus(cell, world, NOW) };
    const broken = { ...world, deployments: [] };
    const second = cellStatus(first, broken, LATER);
    const time = (type: string) => second.conditions?.find((c) => c.type === type)?.lastTransitionTime;
    expect(time('KafkaReady')).toBe('2026-03-01T12:00:00Z');
    expect(time('DatabaseReady')).toBe('2026-03-01T12:00:00Z');
    expect(time('WorkloadsReady')).toBe('2026-03-01T12:05:00Z');
    expect(time('Ready')).toBe('2026-03-01T12:05:00Z');
    // A steady state gives the same status, so the reconciler writes nothing.
    expect(cellStatus(first, world, LATER)).toEqual(first.status);
  });

  it('reflects Cordoned and Draining in the Ready reason and the phase', () => {
    const cordoned = exampleCell({ ...EXAMPLE_CELL_SPEC, state: 'Cordoned' });
    const c = cellStatus(cordoned, healthyWorld(cordoned), NOW);
    expect(c.phase).toBe('Ready');
    expect(condition(c, 'Ready')).toMatchObject({ status: 'True', reason: 'Cordoned' });
    expect(condition(c, 'Ready')?.message).toContain('receives no new ones');
    const draining = exampleCell({ ...EXAMPLE_CELL_SPEC, state: 'Draining' });
    const d = cellStatus(draining, healthyWorld(draining), NOW);
    expect(d.phase).toBe('Draining');
    expect(condition(d, 'Ready')).toMatchObject({ status: 'True', reason: 'Draining' });
  });

  it("shows a drain's cordon: phase Draining, a Cordoned condition naming the Migration, still Ready", () => {
    const status = cellStatus(cell, { ...healthyWorld(cell), cordonedBy: 'drain-1a' }, NOW);
    expect(status.phase).toBe('Draining');
    expect(condition(status, 'Cordoned')).toEqual({
      status: 'True',
      reason: 'DrainingByMigration',
      message: 'The cell is cordoned by Migration drain-1a (drain): placement sends new customers elsewhere. The cordon is lifted when that Migration is aborted or deleted.',
    });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'True', reason: 'Draining' });
    expect(condition(status, 'Ready')?.message).toContain('It is cordoned by Migration drain-1a (drain)');
    expect(condition(status, 'Reconciling')).toBeUndefined();
    // Lifted: back to Ready and Cordoned=False, with a new transition time.
    const lifted = cellStatus({ ...cell, status }, healthyWorld(cell), LATER);
    expect(lifted.phase).toBe('Ready');
    expect(lifted.conditions?.find((c) => c.type === 'Cordoned')).toMatchObject({ status: 'False', reason: 'Active', lastTransitionTime: '2026-03-01T12:05:00Z' });
  });

  it("says Cordoned=True from the spec's state when no drain holds the cell", () => {
    const cordoned = exampleCell({ ...EXAMPLE_CELL_SPEC, state: 'Cordoned' });
    expect(condition(cellStatus(cordoned, healthyWorld(cordoned), NOW), 'Cordoned')).toMatchObject({ status: 'True', reason: 'Cordoned' });
  });

  it('blocks deletion while customers remain, saying how many and what to do', () => {
    const deleting = { ...cell, metadata: { ...cell.metadata, deletionTimestamp: new Date('2026-03-01T11:59:00Z') } };
    const status = cellStatus(deleting, healthyWorld(cell), NOW);
    expect(status.phase).toBe('Deleting');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'DeletionBlocked' });
    expect(condition(status, 'Stalled')).toMatchObject({ status: 'True', reason: 'DeletionBlocked' });
    expect(status.message).toBe(
      'Deletion is waiting: 9812 customer(s) are still placed in this cell. Move them out with a Migration (customers: {all: true}) to another cell of region eu-west-1; the Cell is deleted once it is empty.',
    );
    const empty = cellStatus(deleting, { ...healthyWorld(cell), customers: 0 }, NOW);
    expect(condition(empty, 'Ready')).toMatchObject({ status: 'False', reason: 'Deleting' });
    expect(condition(empty, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Deleting' });
    expect(condition(empty, 'Stalled')).toBeUndefined();
  });

  it('is Stalled with the reason when the children cannot be applied', () => {
    const status = cellStatus(cell, { ...healthyWorld(cell), applyError: { reason: 'KindNotInstalled', message: 'The Strimzi CRDs are not installed: no kind Kafka in kafka.strimzi.io/v1.' } }, NOW);
    expect(status.phase).toBe('Degraded');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'KindNotInstalled' });
    expect(condition(status, 'Stalled')).toEqual({ status: 'True', reason: 'KindNotInstalled', message: 'The Strimzi CRDs are not installed: no kind Kafka in kafka.strimzi.io/v1.' });
  });

  it('reports a cell without workloads as having its workloads ready', () => {
    const { workloads: _w, ...spec } = EXAMPLE_CELL_SPEC;
    const bare = exampleCell(spec);
    expect(condition(cellStatus(bare, healthyWorld(bare), NOW), 'WorkloadsReady')).toEqual({ status: 'True', reason: 'NoWorkloads', message: 'The cell has no workloads.' });
  });
});
