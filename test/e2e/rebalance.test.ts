// Splits and rebalancing end to end: a region with two loaded cells on real PostgreSQL servers and
// a new empty one. A split (one Migration per loaded cell, customers.preferTarget) moves exactly the
// customers that the pure placement function now sends to the new cell, canary first, every row
// exactly once. Then a CellRebalancePolicy on the skewed region proposes, waits for approval, and
// moves.
import { listCells } from '../../src/store/cells.js';
import { createPool } from '../../src/store/connection.js';
import { preferenceCells, preferredCell } from '../../src/store/placement-preference.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { cellManifest, credentialSecrets, rowsPerCustomer, sql, TENANT_TABLES, waitForReadyCells } from './support/migration-world.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

const REGION = 'eu-rebal-9';
const PREFIX = 'rebal';
const A = `${PREFIX}-a`;
const B = `${PREFIX}-b`;
const C = `${PREFIX}-c`;
const SECRETS = `${PREFIX}-secrets`;
const POLICY = `${PREFIX}-policy`;
const READINGS = 20;
const DEVICES = 2;

interface MigrationObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { from: string; to: string; customers: { names?: string[] } };
  status?: { phase?: string; currentStep?: number; progress?: string; customers?: { total?: number; moved?: number } };
}

interface PolicyObject {
  status?: {
    phase?: string;
    proposal?: { id: string; skewBeforePercent: number; skewAfterPercent: number; reachesGoal: boolean; moves: { customer: string; from: string; to: string }[] };
    migrations?: string[];
    conditions?: { type: string; status: string; reason: string }[];
    message?: string;
  };
}

describe('splitting and rebalancing cells', () => {
  let controlPlane: PostgresServer;
  const dbs = new Map<string, PostgresServer>();
  let operator: OperatorProcess;
  const hashed = Array.from({ length: 40 }, (_, i) => `${PREFIX}-${String(i).padStart(3, '0')}`);
  const pinned = [`${PREFIX}-pin-0`, `${PREFIX}-pin-1`];
  const extra = Array.from({ length: 16 }, (_, i) => `${PREFIX}-x-${String(i).padStart(2, '0')}`);
  const splits = [`${PREFIX}-split-a`, `${PREFIX}-split-b`];

  const placementOf = async (ids: string[]) =>
    new Map((await sql<{ customer_id: string; cell: string }>(controlPlane, 'SELECT customer_id, cell FROM placements WHERE customer_id = ANY($1::text[])', [ids])).map((r) => [r.customer_id, r.cell]));
  const placementManifest = (id: string, cell?: string) => ({
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'CustomerPlacement',
    metadata: { name: id },
    spec: { region: REGION, expectedDevices: Number(id.replace(/\D/g, '')) % 7, ...(cell ? { cell } : {}) },
  });
  /** Seeds READINGS readings and DEVICES devices for each customer, in the database of the cell it is placed in. */
  async function seed(ids: string[]): Promise<void> {
    const where = await placementOf(ids);
    for (const [cell, db] of dbs) {
      const mine = ids.filter((id) => where.get(id) === cell);
      if (mine.length === 0) continue;
      await sql(db, 'INSERT INTO readings (customer_id, id, value) SELECT c, i, random() FROM unnest($1::text[]) c, generate_series(1, $2::int) i', [mine, READINGS]);
      await sql(db, `INSERT INTO devices (customer_id, device_id, name) SELECT c, 'd' || i, 'device' FROM unnest($1::text[]) c, generate_series(1, $2::int) i`, [mine, DEVICES]);
    }
  }
  /** Every customer's rows are in exactly one cell database: the one the routing table names, READINGS + DEVICES of them. */
  async function rowsExactlyOnce(ids: string[]): Promise<string[]> {
    const where = await placementOf(ids);
    const problems: string[] = [];
    const counts = new Map<string, { readings: Map<string, number>; devices: Map<string, number> }>();
    for (const [cell, db] of dbs) counts.set(cell, { readings: await rowsPerCustomer(db, 'readings'), devices: await rowsPerCustomer(db, 'devices') });
    for (const id of ids) {
      for (const [cell, c] of counts) {
        const want = where.get(id) === cell ? [READINGS, DEVICES] : [undefined, undefined];
        const got = [c.readings.get(id), c.devices.get(id)];
        if (got[0] !== want[0] || got[1] !== want[1]) problems.push(`${id} in ${cell}: ${got.join('/')} rows, expected ${want.join('/')}`);
      }
    }
    return problems;
  }

  beforeAll(async () => {
    const servers = await Promise.all([startPostgres(), startPostgres(), startPostgres(), startPostgres()]);
    controlPlane = servers[0] as PostgresServer;
    [A, B, C].forEach((cell, i) => dbs.set(cell, servers[i + 1] as PostgresServer));
    await Promise.all([...dbs.values()].map((db) => sql(db, TENANT_TABLES)));
    await apply(credentialSecrets(SECRETS, [A, B, C]));
    operator = await startOperator({ name: PREFIX, leaderElect: false, databaseUrl: controlPlane.url });
    await operator.waitReady();
    await apply([cellManifest(A, REGION, dbs.get(A) as PostgresServer, SECRETS), cellManifest(B, REGION, dbs.get(B) as PostgresServer, SECRETS)]);
    await waitForReadyCells([A, B]);
    // Placed by hashing over A and B, two of them pinned to A.
    await apply([...hashed.map((id) => placementManifest(id)), ...pinned.map((id) => placementManifest(id, A))]);
    await waitFor(async () => (await placementOf([...hashed, ...pinned])).size === hashed.length + pinned.length, { timeoutMs: 60_000, description: 'every customer placed' });
    await seed([...hashed, ...pinned]);
    // The new, empty cell of the split.
    await apply(cellManifest(C, REGION, dbs.get(C) as PostgresServer, SECRETS));
    await waitForReadyCells([C]);
  }, 300_000);

  afterAll(async () => {
    const all = [...hashed, ...pinned, ...extra];
    await kubectl(['delete', 'cellrebalancepolicy', POLICY, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    const made = await kubectlJson<{ items: MigrationObject[] }>(['get', 'migrations', '-l', `cells.platform.io/rebalance-policy=${POLICY}`, '-o', 'json']).catch(() => ({ items: [] }));
    const migrations = [...splits, ...made.items.map((m) => m.metadata.name)];
    for (const m of migrations) await kubectl(['delete', 'migration', m, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await kubectl(['delete', 'customerplacements', ...all, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await operator?.stop();
    for (const name of [...migrations.map((m) => `migration/${m}`), `cell/${A}`, `cell/${B}`, `cell/${C}`]) {
      await kubectl(['patch', name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
    }
    await kubectl(['delete', 'cell', A, B, C, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await kubectl(['delete', 'namespace', SECRETS, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await Promise.all([controlPlane, ...dbs.values()].filter(Boolean).map((s) => s.stop()));
  }, 120_000);

  it('a split moves exactly the customers that now hash to the new cell, canary first, every row exactly once', async () => {
    // What the pure placement function says, over the cells as the control plane has them now.
    const store = createPool({ url: controlPlane.url, poolMax: 1 });
    const cells = preferenceCells(await listCells(store));
    await store.end();
    const before = await placementOf([...hashed, ...pinned]);
    const expected = new Map<string, string[]>([
      [A, []],
      [B, []],
    ]);
    for (const id of hashed) if (preferredCell({ id, region: REGION }, cells) === C) expected.get(before.get(id) as string)?.push(id);
    const wanted = [...expected.values()].flat().sort();
    expect(wanted.length).toBeGreaterThan(0);
    expect(wanted.length).toBeLessThan(hashed.length);
    // Pinned customers stay, even those hashing would send to the new cell.
    expect(pinned.some((id) => wanted.includes(id))).toBe(false);

    await apply(
      [A, B].map((from, k) => ({
        apiVersion: 'cells.platform.io/v1alpha1',
        kind: 'Migration',
        metadata: { name: splits[k] },
        spec: { from, to: C, customers: { preferTarget: true }, steps: [{ move: 1 }, { pause: { duration: '3s' } }, { move: '100%' }], retention: '3s' },
      })),
    );
    const seen = new Map<string, string[]>(splits.map((s) => [s, []]));
    await waitFor(
      async () => {
        const states = await Promise.all(splits.map((s) => kubectlJson<MigrationObject>(['get', 'migration', s, '-o', 'json'])));
        states.forEach((m, k) => {
          const trail = seen.get(splits[k] as string) as string[];
          const entry = `${m.status?.currentStep}:${m.status?.phase}:${m.status?.progress}`;
          if (trail[trail.length - 1] !== entry) trail.push(entry);
        });
        return states.every((m) => m.status?.phase === 'Succeeded');
      },
      { timeoutMs: 240_000, intervalMs: 200, description: 'both split migrations to succeed' },
    );
    // Canary first: each migration paused after its first customer (1 moved), before the rest.
    for (const [k, from] of [A, B].entries()) {
      const trail = seen.get(splits[k] as string) as string[];
      const n = (expected.get(from) as string[]).length;
      if (n > 1) expect(trail).toContain(`1:Paused:1/${n}`);
      expect(trail[trail.length - 1]).toBe(`3:Succeeded:${n}/${n}`); // currentStep: the number of steps once done
    }
    // Exactly those customers moved, and nobody else.
    const after = await placementOf([...hashed, ...pinned]);
    for (const id of [...hashed, ...pinned]) expect({ id, cell: after.get(id) }).toEqual({ id, cell: wanted.includes(id) ? C : before.get(id) });
    const journal = await sql<{ customer_id: string }>(controlPlane, 'SELECT customer_id FROM migration_journal WHERE migration = ANY($1::text[])', [splits]);
    expect(journal.map((r) => r.customer_id).sort()).toEqual(wanted);
    // Every row in exactly one cell, once the 3 s retention has let cleanup empty the sources.
    await waitFor(async () => (await rowsExactlyOnce([...hashed, ...pinned])).length === 0, { timeoutMs: 90_000, description: 'every row in exactly one cell' });
  }, 360_000);

  it('a rebalance policy on a skewed region proposes, waits for approval, then moves', async () => {
    // Skew: 16 more customers in A (pinned to get there, then unpinned by deleting their CustomerPlacements).
    await apply(extra.map((id) => placementManifest(id, A)));
    await waitFor(async () => (await placementOf(extra)).size === extra.length, { timeoutMs: 60_000, description: 'the extra customers placed in A' });
    await seed(extra);
    await kubectl(['delete', 'customerplacements', ...extra, '--wait=true']);
    await apply({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'CellRebalancePolicy',
      metadata: { name: POLICY },
      spec: { region: REGION, goal: { metric: 'Customers', maxSkewPercent: 10 }, limits: { maxMovesPerHour: 100 }, approval: 'Manual', canaryPause: '1s' },
    });
    const proposed = await waitFor(
      async () => {
        const p = await kubectlJson<PolicyObject>(['get', 'cellrebalancepolicy', POLICY, '-o', 'json']);
        return p.status?.phase === 'Proposed' && p.status.proposal ? p : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500, description: 'a proposal' },
    );
    const proposal = proposed.status?.proposal as NonNullable<NonNullable<PolicyObject['status']>['proposal']>;
    expect(proposal.skewBeforePercent).toBeGreaterThan(10);
    expect(proposal.skewAfterPercent).toBeLessThanOrEqual(10);
    expect(proposal.reachesGoal).toBe(true);
    expect(proposal.moves.every((m) => m.from === A && (m.to === B || m.to === C))).toBe(true);
    expect(proposal.moves.some((m) => pinned.includes(m.customer))).toBe(false);
    expect(proposed.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'AwaitingApproval' });
    expect(proposed.status?.message).toContain(proposal.id);
    // It waits: no Migration of the policy exists a few seconds later.
    await new Promise((r) => setTimeout(r, 4000));
    expect((await kubectlJson<{ items: unknown[] }>(['get', 'migrations', '-l', `cells.platform.io/rebalance-policy=${POLICY}`, '-o', 'json'])).items).toEqual([]);

    // Approve it the way Git would: a field naming the proposal.
    await kubectl(['patch', 'cellrebalancepolicy', POLICY, '--type', 'merge', '-p', JSON.stringify({ spec: { approve: proposal.id } })]);
    const balanced = await waitFor(
      async () => {
        const p = await kubectlJson<PolicyObject>(['get', 'cellrebalancepolicy', POLICY, '-o', 'json']);
        return p.status?.phase === 'Balanced' ? p : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000, description: 'the policy to move and be Balanced' },
    );
    expect(balanced.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Balanced' });
    const made = await kubectlJson<{ items: MigrationObject[] }>(['get', 'migrations', '-l', `cells.platform.io/rebalance-policy=${POLICY}`, '-o', 'json']);
    expect(made.items.length).toBeGreaterThan(0);
    expect(made.items.every((m) => m.status?.phase === 'Succeeded' && m.metadata.labels?.['cells.platform.io/rebalance-proposal'] === proposal.id)).toBe(true);
    expect(made.items.flatMap((m) => m.spec.customers.names ?? []).sort()).toEqual(proposal.moves.map((m) => m.customer).sort());
    // The routing table and the rows agree with the proposal: each moved customer whole in its new cell.
    const where = await placementOf(proposal.moves.map((m) => m.customer));
    for (const m of proposal.moves) {
      expect(where.get(m.customer)).toBe(m.to);
      const db = dbs.get(m.to) as PostgresServer;
      expect((await rowsPerCustomer(db, 'readings')).get(m.customer)).toBe(READINGS);
      expect((await rowsPerCustomer(db, 'devices')).get(m.customer)).toBe(DEVICES);
    }
    const counts = await sql<{ cell: string; n: string }>(controlPlane, 'SELECT cell, count(*) AS n FROM placements WHERE cell = ANY($1::text[]) GROUP BY cell', [[A, B, C]]);
    const total = counts.reduce((n, r) => n + Number(r.n), 0);
    for (const r of counts) expect(Number(r.n)).toBeLessThanOrEqual(Math.floor((total / 3) * 1.1));
  }, 420_000);
});
