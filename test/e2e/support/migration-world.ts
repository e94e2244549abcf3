// A world for migration e2e tests: a control-plane PostgreSQL, two cells on real PostgreSQL
// servers (Ready through the operator and kwok's Strimzi), customers placed in the source cell by
// CustomerPlacements, rows for each, the operator, and the real router (in-process, its database
// connection through a proxy a test can cut) that gateway-like writers ask. Everything is named
// after `prefix`. Either cell may run on Citus instead (a coordinator and two workers, the external
// database form naming the workers, which the operator registers and distributes the tables on).
import pg from 'pg';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../src/log.js';
import { startRouter, type RouterHandle } from '../../../src/router/router.js';
import { startCitus, type CitusCluster } from '../../support/citus.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import { isFenceRefusal, lookupRoute, sleep } from '../../support/router-client.js';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.js';
import { apply, kubectl, kubectlJson, waitFor } from './kube.js';
import { startOperator, type OperatorOptions, type OperatorProcess } from './operator.js';

export const TENANT_TABLES = `
  CREATE TABLE readings (customer_id text NOT NULL, id bigint NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
                         value double precision NOT NULL, PRIMARY KEY (customer_id, id));
  CREATE TABLE devices (customer_id text NOT NULL, device_id text NOT NULL, name text NOT NULL, PRIMARY KEY (customer_id, device_id));`;

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(db: PostgresServer, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function rowsPerCustomer(db: PostgresServer, table: string): Promise<Map<string, number>> {
  const rows = await sql<{ customer_id: string; n: string }>(db, `SELECT customer_id, count(*) AS n FROM ${table} GROUP BY customer_id`);
  return new Map(rows.map((r) => [r.customer_id, Number(r.n)]));
}

export interface MigrationObject {
  spec: { promotedStep?: number };
  status?: { phase?: string; currentStep?: number; progress?: string; customers?: { moved?: number; total?: number; failed?: number }; message?: string };
}

/** A Migration from the world's source cell to its target cell; `spec` adds to (or overrides) that. */
export function migrationManifest(world: Pick<MigrationWorld, 'sourceCell' | 'targetCell'>, name: string, spec: Record<string, unknown>): object {
  return { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Migration', metadata: { name }, spec: { from: world.sourceCell, to: world.targetCell, ...spec } };
}

export interface MigrationWorld {
  /** The cells' databases (a Citus cell's: its coordinator). */
  source: PostgresServer;
  target: PostgresServer;
  /** The Citus clusters of the cells on Citus. */
  citus: { source?: CitusCluster; target?: CitusCluster };
  controlPlane: PostgresServer;
  sourceCell: string;
  targetCell: string;
  customers: string[];
  /** Devices seeded per customer: d1, d2, … */
  seededDevices: string[];
  readingsPerCustomer: number;
  operator: OperatorProcess;
  /** The router gateways ask; its control-plane connections go through `routerLink`. */
  router: RouterHandle;
  routerLink: TcpProxy;
  /** Starts a new operator (after a crash), with the same database. */
  restartOperator(): Promise<OperatorProcess>;
  migration(name: string): Promise<MigrationObject>;
  cleanup(migrations: string[]): Promise<void>;
}

/** A small Cell on an external PostgreSQL database (credentials in Secret `<name>-db` of `secretsNamespace`). */
export function cellManifest(
  name: string,
  region: string,
  db: { host: string; port: number; database: string },
  secretsNamespace: string,
  maxCustomers = 100,
  /** spec.cluster.name: the cell's children in that cluster (multi-cluster.test.ts). */
  cluster?: string,
): object {
  return {
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name },
    spec: {
      region,
      capacity: { maxCustomers },
      ...(cluster ? { cluster: { name: cluster } } : {}),
      kafka: {
        controllers: { replicas: 1, storage: { size: '1Gi' } },
        brokers: { replicas: 1, storage: { size: '1Gi' } },
        topics: [{ name: 'telemetry', partitions: 3, replicas: 1 }],
      },
      database: {
        external: { host: db.host, port: db.port, database: db.database, sslMode: 'disable', secretRef: { name: `${name}-db`, namespace: secretsNamespace } },
        tables: [{ name: 'readings', mode: 'AppendOnly' }, { name: 'devices', mode: 'Mutable' }],
      },
      deletionPolicy: 'Delete',
    },
  };
}

/** A cell manifest of cellManifest() on a Citus coordinator: the operator registers `workers` and distributes the tables in `shardCount` shards. */
export function onCitus(manifest: object, workers: { host: string; port: number }[], shardCount = 8): object {
  const cell = manifest as { spec: { database: { external: object } & Record<string, unknown> } };
  const database = cell.spec.database;
  return {
    ...cell,
    spec: { ...cell.spec, database: { ...database, external: { ...database.external, workers: workers.map((w) => ({ host: w.host, port: w.port })) }, shardCount } },
  };
}

/** Waits until the named Citus cells report their tenant tables distributed. */
async function waitForDistributedTables(names: string[], tables: number): Promise<void> {
  await waitFor(
    async () => {
      const counts = await Promise.all(names.map((n) => kubectl(['get', 'cell', n, '-o', 'jsonpath={.status.database.distributedTables}'])));
      return counts.every((c) => Number(c.stdout) === tables);
    },
    { timeoutMs: 90_000, description: `cells ${names.join(', ')} with ${tables} distributed tables` },
  );
}

/** The namespace and the `<cell>-db` Secrets of cells on the throw-away servers (trust auth: any password). */
export function credentialSecrets(namespace: string, cells: string[]): object[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    ...cells.map((name) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${name}-db`, namespace },
      stringData: { username: 'postgres', password: 'unused-with-trust-auth' },
    })),
  ];
}

/** Waits until every named Cell reports phase Ready. */
export async function waitForReadyCells(names: string[]): Promise<void> {
  await waitFor(
    async () => {
      const phases = await Promise.all(names.map((n) => kubectl(['get', 'cell', n, '-o', 'jsonpath={.status.phase}'])));
      return phases.every((p) => p.stdout === 'Ready');
    },
    { timeoutMs: 90_000, description: `cells ${names.join(', ')} Ready` },
  );
}

export async function startMigrationWorld(options: {
  prefix: string;
  region: string;
  customers: number;
  readingsPerCustomer: number;
  /** Devices per customer (d1, d2, …; a Mutable table, copied in full under the fence). Default 3. */
  devicesPerCustomer?: number;
  operator?: OperatorOptions;
  /** The target cell in a cluster of its own (its spec.cluster.name). */
  targetCluster?: string;
  /** Cells on Citus (a coordinator and two workers each) instead of plain PostgreSQL. */
  citus?: { source?: boolean; target?: boolean };
}): Promise<MigrationWorld> {
  const { prefix, region } = options;
  const sourceCell = `${prefix}-src`;
  const targetCell = `${prefix}-dst`;
  const secrets = `${prefix}-secrets`;
  const customers = Array.from({ length: options.customers }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  const cellDatabase = async (onCitus: boolean | undefined) => {
    if (!onCitus) return { server: await startPostgres(), citus: undefined };
    const citus = await startCitus({ workers: 2 });
    return { server: citus.coordinator, citus };
  };
  const [controlPlane, sourceDb, targetDb] = await Promise.all([startPostgres(), cellDatabase(options.citus?.source), cellDatabase(options.citus?.target)]);
  const [source, target] = [sourceDb.server, targetDb.server];
  const citus = { ...(sourceDb.citus ? { source: sourceDb.citus } : {}), ...(targetDb.citus ? { target: targetDb.citus } : {}) };
  await Promise.all([sql(source, TENANT_TABLES), sql(target, TENANT_TABLES)]);
  await apply(credentialSecrets(secrets, [sourceCell, targetCell]));
  const operatorOptions: OperatorOptions = { name: prefix, leaderElect: false, databaseUrl: controlPlane.url, ...options.operator };
  let operator = await startOperator(operatorOptions);
  await operator.waitReady(90_000); // a loaded machine starts it slowly
  const sourceManifest = cellManifest(sourceCell, region, source, secrets);
  const targetManifest = cellManifest(targetCell, region, target, secrets, 100, options.targetCluster);
  await apply([
    citus.source ? onCitus(sourceManifest, citus.source.workers) : sourceManifest,
    citus.target ? onCitus(targetManifest, citus.target.workers) : targetManifest,
  ]);
  await waitForReadyCells([sourceCell, targetCell]);
  const citusCells = [...(citus.source ? [sourceCell] : []), ...(citus.target ? [targetCell] : [])];
  if (citusCells.length > 0) await waitForDistributedTables(citusCells, 2);
  await apply(
    customers.map((id, i) => ({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'CustomerPlacement',
      metadata: { name: id, labels: { tier: 'standard' } },
      spec: { cell: sourceCell, region, expectedDevices: i },
    })),
  );
  await waitFor(
    async () => {
      const placed = await sql<{ n: string }>(controlPlane, 'SELECT count(*) AS n FROM placements WHERE cell = $1', [sourceCell]);
      return Number(placed[0]?.n) === customers.length;
    },
    { timeoutMs: 60_000, description: `all ${customers.length} customers placed in the source cell` },
  );
  await sql(source, 'INSERT INTO readings (customer_id, id, value) SELECT c, i, random() FROM unnest($1::text[]) c, generate_series(1, $2::int) i', [
    customers,
    options.readingsPerCustomer,
  ]);
  const devices = options.devicesPerCustomer ?? 3;
  await sql(source, `INSERT INTO devices (customer_id, device_id, name) SELECT c, 'd' || i, 'device ' || i FROM unnest($1::text[]) c, generate_series(1, $2::int) i`, [customers, devices]);
  const routerLink = await startTcpProxy({ host: controlPlane.host, port: controlPlane.port });
  const router = await startRouter({
    database: { url: routerLink.via(controlPlane.url) },
    host: '127.0.0.1',
    port: 0,
    migrate: false,
    waitForIndex: true,
    log: silentLogger(),
    registry: new Registry(),
    defaultMetrics: false,
    closeGraceMs: 100,
  });

  return {
    source,
    target,
    citus,
    controlPlane,
    sourceCell,
    targetCell,
    customers,
    seededDevices: Array.from({ length: devices }, (_, i) => `d${i + 1}`),
    readingsPerCustomer: options.readingsPerCustomer,
    router,
    routerLink,
    get operator() {
      return operator;
    },
    async restartOperator() {
      operator = await startOperator(operatorOptions);
      await operator.waitReady(90_000); // a loaded machine starts it slowly
      return operator;
    },
    migration: (name) => kubectlJson<MigrationObject>(['get', 'migration', name, '-o', 'json']),
    async cleanup(migrations) {
      for (const m of migrations) await kubectl(['delete', 'migration', m, '--ignore-not-found', '--wait=false']);
      await kubectl(['delete', 'customerplacements', ...customers, '--ignore-not-found', '--wait=false']);
      await operator.stop();
      for (const name of [...migrations.map((m) => `migration/${m}`), `cell/${sourceCell}`, `cell/${targetCell}`]) {
        // Objects may still wait on their finalizer (customers, open moves): the test is over.
        await kubectl(['patch', name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
      }
      await kubectl(['delete', 'cell', sourceCell, targetCell, '--ignore-not-found', '--wait=false']);
      await kubectl(['delete', 'namespace', secrets, '--ignore-not-found', '--wait=false']);
      await router.close();
      await routerLink.close();
      await Promise.all([controlPlane.stop(), citus.source?.stop() ?? source.stop(), citus.target?.stop() ?? target.stop()]);
    },
  };
}

/** What a gateway-like writer needs: the router's address and each cell's database. */
export interface GatewayPools {
  routerUrl: string;
  cells: Map<string, pg.Pool>;
  end(): Promise<void>;
}

export function gatewayPools(world: MigrationWorld): GatewayPools {
  const cells = new Map([
    [world.sourceCell, new pg.Pool({ connectionString: world.source.url, max: 8 })],
    [world.targetCell, new pg.Pool({ connectionString: world.target.url, max: 8 })],
  ]);
  for (const pool of cells.values()) pool.on('error', () => undefined); // an idle connection lost: the next query reconnects
  return { routerUrl: world.router.url, cells, end: async () => void (await Promise.all([...cells.values()].map((p) => p.end()))) };
}

/**
 * A gateway-like writer for one customer: asks the router for the customer's cell (GET
 * /v1/routes/{id}; a 503 waits for its Retry-After), then in one transaction there inserts a
 * reading and, in turn, creates a device, renames one it created, or deletes one (with
 * `deletes`). A write is acknowledged after COMMIT and recorded with the cell that committed it;
 * a fence refusal from a cell database asks the router again. Reading ids start at 1,000,000,
 * above the seeded rows.
 */
export class GatewayWriter {
  /** Acknowledged reading ids. */
  readonly acknowledged: number[] = [];
  /** Acknowledged writes per cell. */
  readonly acknowledgedIn = new Map<string, number[]>();
  /** Devices as their last acknowledged write left them (name), and those whose deletion was acknowledged. */
  readonly devices = new Map<string, string>();
  readonly deleted = new Set<string>();
  /** 503s waited out, fence refusals re-routed, failed writes (their outcome unknown), router failures. */
  fencedRetries = 0;
  refused = 0;
  errors: string[] = [];
  routeFailures = 0;
  /** A device this writer created that the routed cell did not have when it came back to it. */
  readonly anomalies: string[] = [];
  private stopped = false;
  private next = 1_000_000;
  private n = 0;
  private readonly done: Promise<void>;
  private gate: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(
    private readonly pools: GatewayPools,
    readonly customer: string,
    private readonly options: { deletes?: boolean } = {},
  ) {
    // A loop that throws (a connection refused, say) records why and ends: it never hangs a caller.
    this.done = this.loop().catch((err: unknown) => {
      this.errors.push(`${this.customer}: the writer failed in ${this.at}: ${(err as Error).message}`);
      this.idle?.();
    });
  }

  /** Where the loop is: said when it does not stop (a write that never returns). */
  private at = 'idle';

  /**
   * Stops the loop; at most `timeoutMs`: a write that never returns is recorded in `errors` with
   * where it hangs, and the caller goes on (its afterAll must still stop the world).
   */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    const outcome = await Promise.race([this.done.then(() => 'done' as const), late]);
    clearTimeout(timer);
    if (outcome === 'late') this.errors.push(`${this.customer}: the writer did not stop within ${timeoutMs} ms, waiting in ${this.at}`);
  }

  /** Runs `fn` between two writes (none in flight), then lets the writer go on. */
  async holding<T>(fn: () => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    const paused = new Promise<void>((r) => (this.idle = r));
    try {
      // The loop may have ended (stopped, or failed): then nobody resolves `paused`.
      if (!this.stopped) await Promise.race([paused, this.done.catch(() => undefined)]);
      return await fn();
    } finally {
      this.gate = undefined;
      this.idle = undefined;
      release();
    }
  }

  private async route(): Promise<string | undefined> {
    while (!this.stopped) {
      const answer = await lookupRoute(this.pools.routerUrl, this.customer);
      if (answer.kind === 'Route') return answer.cell;
      if (answer.kind === 'Retry') this.fencedRetries++;
      else this.routeFailures++;
      await sleep(answer.kind === 'Retry' ? answer.retryAfterMs : 100);
    }
    return undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.gate) {
        this.idle?.();
        this.at = 'a check between writes (holding)';
        await this.gate;
        continue;
      }
      const id = this.next++;
      const turn = this.n++ % 3;
      const mine = [...this.devices.keys()].filter((d) => d.startsWith('w'));
      const op: { kind: 'create' | 'rename' | 'delete'; device: string } =
        turn === 0 || mine.length === 0
          ? { kind: 'create', device: `w${id}` }
          : { kind: turn === 2 && this.options.deletes ? 'delete' : 'rename', device: mine[id % mine.length] as string };
      for (;;) {
        this.at = 'the router lookup';
        const cell = await this.route();
        if (cell === undefined) return;
        const pool = this.pools.cells.get(cell);
        if (!pool) throw new Error(`unknown cell ${cell}`);
        this.at = `a connection to ${cell}`;
        const client = await pool.connect();
        let touched = 1;
        try {
          this.at = `a write transaction in ${cell}`;
          await client.query('BEGIN');
          await client.query('INSERT INTO readings (customer_id, id, value) VALUES ($1, $2, 1)', [this.customer, id]);
          if (op.kind === 'create') await client.query('INSERT INTO devices (customer_id, device_id, name) VALUES ($1, $2, $3)', [this.customer, op.device, `v${id}`]);
          if (op.kind === 'rename') touched = (await client.query('UPDATE devices SET name = $3 WHERE customer_id = $1 AND device_id = $2', [this.customer, op.device, `v${id}`])).rowCount ?? 0;
          if (op.kind === 'delete') touched = (await client.query('DELETE FROM devices WHERE customer_id = $1 AND device_id = $2', [this.customer, op.device])).rowCount ?? 0;
          await client.query('COMMIT');
          client.release();
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          client.release(true);
          if (isFenceRefusal(err)) {
            this.refused++;
            continue; // rolled back: ask the router again
          }
          this.errors.push(`${this.customer} in ${cell}: ${(err as Error).message}`);
          break;
        }
        // Committed: the device got its acknowledgement.
        this.acknowledged.push(id);
        this.acknowledgedIn.set(cell, [...(this.acknowledgedIn.get(cell) ?? []), id]);
        if (touched !== 1) this.anomalies.push(`device ${op.device} was missing from ${cell} when the writer went to ${op.kind} it`);
        else if (op.kind === 'delete') {
          this.devices.delete(op.device);
          this.deleted.add(op.device);
        } else this.devices.set(op.device, `v${id}`);
        break;
      }
      this.at = 'idle';
      await sleep(20);
    }
    this.idle?.();
  }
}

/**
 * Watches a migration's journal and, at every cut-over it sees (a move in Cleanup, before its
 * retention ends and cleanup sweeps late rows over), checks that the customer's new home alone
 * holds every write acknowledged so far. `stop()` returns the problems per cut-over (empty lists
 * when all is well) and the cut-overs missed (seen only after cleanup had begun).
 */
export function watchCutOvers(world: MigrationWorld, migration: string, writers: GatewayWriter[]) {
  const checked = new Map<string, string[]>();
  const missed: string[] = [];
  let running = true;
  const byCustomer = new Map(writers.map((w) => [w.customer, w]));
  const loop = (async () => {
    while (running) {
      const moves = await sql<{ customer_id: string; state: string; cut_over_at: Date; cell: string; swept: boolean }>(
        world.controlPlane,
        `SELECT j.customer_id, j.state, j.cut_over_at, p.cell,
                EXISTS (SELECT 1 FROM migration_table_progress t WHERE t.migration = j.migration AND t.customer_id = j.customer_id AND t.sweep_started) AS swept
           FROM migration_journal j JOIN placements p USING (customer_id)
          WHERE j.migration = $1 AND j.cut_over_at IS NOT NULL`,
        [migration],
      ).catch(() => []);
      for (const m of moves) {
        const id = `${m.customer_id}@${m.cut_over_at.toISOString()}`;
        const w = byCustomer.get(m.customer_id);
        if (checked.has(id) || missed.includes(id) || !w) continue;
        if (m.state !== 'Cleanup' || m.swept) {
          missed.push(id);
          continue;
        }
        const home = m.cell === world.targetCell ? world.target : world.source;
        checked.set(id, await w.holding(() => keySetProblems(home, world, w, false)));
      }
      await sleep(50);
    }
  })();
  return {
    async stop(): Promise<{ checked: Map<string, string[]>; missed: string[] }> {
      running = false;
      await loop;
      return { checked, missed };
    },
  };
}

/**
 * The differences between a cell's keys of the writer's customer and what must be there: the
 * seeded readings and devices plus every acknowledged write (deletions and renames included),
 * and, with `exact`, nothing else. Empty when none.
 */
export async function keySetProblems(db: PostgresServer, world: Pick<MigrationWorld, 'seededDevices' | 'readingsPerCustomer'>, w: GatewayWriter, exact = true): Promise<string[]> {
  const problems: string[] = [];
  const readings = new Set((await sql<{ id: string }>(db, 'SELECT id FROM readings WHERE customer_id = $1', [w.customer])).map((r) => Number(r.id)));
  const devices = new Map((await sql<{ device_id: string; name: string }>(db, 'SELECT device_id, name FROM devices WHERE customer_id = $1', [w.customer])).map((r) => [r.device_id, r.name]));
  const mustReadings = new Set([...Array.from({ length: world.readingsPerCustomer }, (_, i) => i + 1), ...w.acknowledged]);
  const missing = [...mustReadings].filter((id) => !readings.has(id));
  if (missing.length) problems.push(`readings: ${missing.length} missing (${missing.slice(0, 5).join(', ')})`);
  if (exact) {
    const extra = [...readings].filter((id) => !mustReadings.has(id));
    if (extra.length) problems.push(`readings: ${extra.length} nobody acknowledged (${extra.slice(0, 5).join(', ')})`);
  }
  const mustDevices = new Map<string, string | undefined>(world.seededDevices.map((d) => [d, undefined]));
  for (const [d, name] of w.devices) mustDevices.set(d, name);
  for (const [d, name] of mustDevices) {
    if (!devices.has(d)) problems.push(`devices: ${d} missing`);
    else if (name !== undefined && devices.get(d) !== name) problems.push(`devices: ${d} is ${devices.get(d)}, acknowledged ${name}`);
  }
  for (const d of w.deleted) if (devices.has(d)) problems.push(`devices: ${d} is there after its deletion was acknowledged`);
  if (exact) for (const d of devices.keys()) if (!mustDevices.has(d) && !w.deleted.has(d)) problems.push(`devices: ${d} nobody acknowledged`);
  return problems;
}

/** Rows the cleanup sweeps of a migration had to move (late rows); zero when every writer followed the router. */
export async function sweptRows(world: Pick<MigrationWorld, 'controlPlane'>, migration: string): Promise<number> {
  const rows = await sql<{ n: string | null }>(world.controlPlane, 'SELECT sum(swept_rows)::text AS n FROM migration_table_progress WHERE migration = $1', [migration]);
  return Number(rows[0]?.n ?? 0);
}

/**
 * SIGKILLs the world's operator each time the journal shows a move of `migration` in a state of
 * `wanted` not hit yet, and starts a new one, until every wanted state was hit, the migration
 * succeeded, or `maxKills` kills. A state counts as hit when the journal, as the dead operator
 * left it, holds a move in it (with `batched`, several moves that entered it at one instant).
 * Returns the states hit and the journal's states at each death.
 */
export async function killAtJournalStates(
  world: MigrationWorld,
  migration: string,
  wanted: readonly string[],
  options: { maxKills?: number; batched?: boolean } = {},
): Promise<{ killedIn: string[]; atDeath: string[][] }> {
  const journal = new pg.Pool({ connectionString: world.controlPlane.url, max: 1 });
  const killedIn = new Set<string>();
  const atDeath: string[][] = [];
  // With `batched`, a state counts only when several moves entered it at one instant: a batch
  // (src/data/move-batch.ts records its members' transitions together), not a move alone.
  const least = options.batched ? 2 : 1;
  const groups = `SELECT state, count(*) AS n FROM migration_journal WHERE migration = $1 GROUP BY state, state_entered_at`;
  try {
    for (let i = 0; i < (options.maxKills ?? 12) && !wanted.every((s) => killedIn.has(s)); i++) {
      const aimed = wanted.filter((s) => !killedIn.has(s));
      let phaseCheckedAt = 0;
      const due = await waitFor(
        async () => {
          const { rows } = await journal.query<{ n: string }>(`SELECT count(*)::text AS n FROM (${groups}) g WHERE state = ANY($2::text[]) AND n >= $3`, [migration, aimed, least]);
          if (Number(rows[0]?.n) > 0) return 'kill';
          if (Date.now() - phaseCheckedAt < 1000) return undefined;
          phaseCheckedAt = Date.now();
          return (await world.migration(migration).catch(() => undefined))?.status?.phase === 'Succeeded' ? 'over' : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 5, description: `${options.batched ? 'a batch of moves' : 'a move'} in ${aimed.join(' or ')}` },
      );
      if (due === 'over') break;
      await world.operator.stop('SIGKILL');
      const { rows } = await journal.query<{ state: string; n: string }>(`SELECT state, max(n)::text AS n FROM (${groups}) g GROUP BY state ORDER BY state`, [migration]);
      // With `batched`, each state with the most moves that entered it at one instant: Fenced×20.
      atDeath.push(rows.map((r) => (options.batched ? `${r.state}×${r.n}` : r.state)));
      for (const r of rows) if (wanted.includes(r.state) && Number(r.n) >= least) killedIn.add(r.state);
      await world.restartOperator();
    }
  } finally {
    await journal.end();
  }
  return { killedIn: [...killedIn].sort(), atDeath };
}

/**
 * After a migration succeeded: waits until every writer has had a write acknowledged in `cell` (the
 * customers' new cell), so that "writes went on in the target" is checked, not raced; a writer
 * still holding through the last cut-over gets there within the bound.
 */
export async function untilEveryWriterWroteTo(writers: readonly GatewayWriter[], cell: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => writers.every((w) => (w.acknowledgedIn.get(cell)?.length ?? 0) > 0), {
    timeoutMs,
    intervalMs: 100,
    description: `every writer to have a write acknowledged in ${cell} (waiting: ${writers.filter((w) => !w.acknowledgedIn.has(cell)).map((w) => w.customer).join(', ')})`,
  });
}

/**
 * The end of a crash suite (operator SIGKILLed mid-migration, gateway writers asking the router):
 * the migration succeeds, every writer gets a write into the target cell, the writers stop, cleanup
 * empties the source. Then: at every cut-over, before cleanup, the target alone held every
 * acknowledged write (so the sweep moved nothing), no writer saw an error or an anomaly, each was
 * acknowledged by both cells, and the target holds exactly each writer's seeded and acknowledged rows.
 */
export async function expectEveryWriteOnceAfterCrashes(
  world: MigrationWorld,
  migration: string,
  writers: readonly GatewayWriter[],
  watch: ReturnType<typeof watchCutOvers>,
  succeedWithinMs = 240_000,
): Promise<void> {
  await waitFor(async () => ((await world.migration(migration)).status?.phase === 'Succeeded' ? true : undefined), {
    timeoutMs: succeedWithinMs,
    intervalMs: 500,
    description: 'the migration to succeed after the crashes',
  });
  await untilEveryWriterWroteTo(writers, world.targetCell); // writes go on in the target
  await Promise.all(writers.map((w) => w.stop()));
  await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
    timeoutMs: 90_000,
    description: 'the source to be cleaned up',
  });
  const cutOvers = await watch.stop();
  expect(cutOvers.missed).toEqual([]);
  expect([...cutOvers.checked.values()].flat()).toEqual([]);
  expect(cutOvers.checked.size).toBe(writers.length);
  expect(await sweptRows(world, migration)).toBe(0);
  for (const w of writers) {
    expect({ customer: w.customer, errors: w.errors, anomalies: w.anomalies, routeFailures: w.routeFailures }).toEqual({ customer: w.customer, errors: [], anomalies: [], routeFailures: 0 });
    // Acknowledged by the source before the move and by the target after it.
    expect([w.acknowledgedIn.has(world.sourceCell), w.acknowledgedIn.has(world.targetCell)]).toEqual([true, true]);
    expect({ customer: w.customer, problems: await keySetProblems(world.target, world, w) }).toEqual({ customer: w.customer, problems: [] });
  }
}

/**
 * A migration e2e file's teardown, whatever its test reached: the writers stopped, the cut-over
 * watcher stopped, the gateway pools ended, the world (operator, databases, objects) cleaned up.
 */
export async function endMigrationTest(
  parts: { stopWriters?: () => Promise<unknown>; watch?: { stop(): Promise<unknown> }; pools?: GatewayPools; world?: MigrationWorld },
  migrations: string[],
): Promise<void> {
  await parts.stopWriters?.();
  await parts.watch?.stop();
  await parts.pools?.end();
  await parts.world?.cleanup(migrations);
}
