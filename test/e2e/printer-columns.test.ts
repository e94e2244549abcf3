// What `kubectl get cells|migrations` shows, read from the API server's own table output (the
// request kubectl makes: Accept: application/json;as=Table;g=meta.k8s.io;v=v1): a drain's Draining
// phase and a cordon in the default columns, a Migration's step and progress; and short names that
// no other resource of the cluster (built-in, Strimzi, Prometheus Operator, ...) uses.
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { CRD_DEFINITIONS } from '../../src/crds/crd-definitions.js';
import { apply, kubeConfig, kubectl, kubectlJson } from './support/kube.js';

const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1';
const suffix = randomBytes(3).toString('hex');
const cordoned = `cols-cordoned-${suffix}`;
const drained = `cols-drained-${suffix}`;
const migration = `cols-drain-${suffix}`;

interface Table {
  kind: string;
  columnDefinitions: { name: string; priority: number }[];
  rows: { cells: unknown[]; object: { metadata: { name: string } } }[];
}

async function table(path: string): Promise<Table> {
  const kc = kubeConfig();
  const ctx = new RequestContext(kc.getCurrentCluster()!.server + path, HttpMethod.GET);
  ctx.setHeaderParam('Accept', TABLE);
  await kc.applySecurityAuthentication(ctx);
  const res = await new IsomorphicFetchHttpLibrary().send(ctx).toPromise();
  const text = await res.body.text();
  if (res.httpStatusCode !== 200) throw new Error(`GET ${path}: ${res.httpStatusCode} ${text}`);
  return JSON.parse(text) as Table;
}

/** The row of `name` as {COLUMN: value}, default columns only (what plain `kubectl get` prints). */
function row(t: Table, name: string): Record<string, unknown> {
  const r = t.rows.find((x) => x.cells[0] === name);
  if (!r) throw new Error(`no row ${name} in ${JSON.stringify(t.rows.map((x) => x.cells[0]))}`);
  return Object.fromEntries(t.columnDefinitions.map((c, i) => [c.name.toUpperCase(), r.cells[i]]).filter((_, i) => t.columnDefinitions[i]!.priority === 0));
}

const cell = (name: string, state: string) => ({
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'Cell',
  metadata: { name },
  spec: {
    region: 'eu-cols-1',
    state,
    capacity: { maxCustomers: 100 },
    kafka: { controllers: { replicas: 1, storage: { size: '1Gi' } }, brokers: { replicas: 1, storage: { size: '1Gi' } }, topics: [{ name: 'telemetry', partitions: 1, replicas: 1 }] },
    database: { storage: { size: '1Gi' } },
  },
});

const readyCondition = (reason: string) => ({ type: 'Ready', status: 'True', reason, message: 'ready', lastTransitionTime: '2026-01-01T00:00:00Z' });

describe('kubectl get, as the API server prints it', () => {
  beforeAll(async () => {
    // No operator runs here: the statuses are written as the operator writes them.
    await apply([cell(cordoned, 'Cordoned'), cell(drained, 'Active')]);
    await kubectl(['patch', 'cell', cordoned, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Ready', customers: 12, conditions: [readyCondition('Cordoned')] } })]);
    await kubectl(['patch', 'cell', drained, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Draining', customers: 40, conditions: [readyCondition('Draining')] } })]);
    await apply({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'Migration',
      metadata: { name: migration },
      spec: { from: drained, to: cordoned, customers: { all: true }, steps: [{ move: 1 }, { pause: {} }, { move: '100%' }] },
    });
    await kubectl(['patch', 'migration', migration, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Paused', currentStep: 1, progress: '1/40', customers: { total: 40, moved: 1, failed: 0 } } })]);
  }, 60_000);

  afterAll(async () => {
    await kubectl(['delete', 'migration', migration, '--ignore-not-found', '--wait=false']);
    for (const name of [migration]) await kubectl(['patch', `migration/${name}`, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
    await kubectl(['delete', 'cell', cordoned, drained, '--ignore-not-found', '--wait=false']);
  }, 60_000);

  it("shows a cell's cordon and a drain's Draining phase without -o wide", async () => {
    const t = await table('/apis/cells.platform.io/v1alpha1/cells');
    expect(t.kind).toBe('Table');
    expect(row(t, cordoned)).toMatchObject({ NAME: cordoned, REGION: 'eu-cols-1', STATE: 'Cordoned', PHASE: 'Ready', CUSTOMERS: 12, READY: 'True' });
    // spec.state stays Active during a drain: only the phase tells.
    expect(row(t, drained)).toMatchObject({ NAME: drained, STATE: 'Active', PHASE: 'Draining', CUSTOMERS: 40, READY: 'True' });
    expect(Object.keys(row(t, drained))).toEqual(['NAME', 'REGION', 'STATE', 'PHASE', 'CUSTOMERS', 'READY', 'AGE']);
  });

  it("shows a Migration's phase, step and progress without -o wide", async () => {
    const t = await table('/apis/cells.platform.io/v1alpha1/migrations');
    expect(row(t, migration)).toMatchObject({ NAME: migration, FROM: drained, TO: cordoned, PHASE: 'Paused', STEP: 1, PROGRESS: '1/40' });
    expect(Object.keys(row(t, migration))).toEqual(['NAME', 'FROM', 'TO', 'PHASE', 'STEP', 'PROGRESS', 'AGE']);
  });

  it('prints the same with kubectl get, and the capacity and message with -o wide', async () => {
    const plain = (await kubectl(['get', 'cells', drained])).stdout;
    expect(plain.split('\n')[0]!.split(/\s+/)).toEqual(['NAME', 'REGION', 'STATE', 'PHASE', 'CUSTOMERS', 'READY', 'AGE']);
    expect(plain).toMatch(new RegExp(`${drained}\\s+eu-cols-1\\s+Active\\s+Draining\\s+40\\s+True`));
    const wide = (await kubectl(['get', 'cells', drained, '-o', 'wide'])).stdout;
    expect(wide.split('\n')[0]).toMatch(/CAPACITY.*MESSAGE/);
  });

  it('uses short names that no other resource of the cluster has, and kubectl resolves them to ours', async () => {
    const ours = new Set(CRD_DEFINITIONS.map((d) => d.names.plural));
    const lines = (await kubectl(['api-resources', '--no-headers', '-o', 'wide'])).stdout.split('\n').filter(Boolean);
    // NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES; SHORTNAMES may be empty.
    const others = new Set<string>();
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      const [name] = cols;
      if (ours.has(name!)) continue;
      others.add(name!);
      if (cols.length >= 6 && !/^(true|false)$/.test(cols[2]!)) for (const s of cols[1]!.split(',')) others.add(s);
    }
    const crds = await kubectlJson<{ items: { spec: { names: { singular?: string; shortNames?: string[]; plural: string } } }[] }>(['get', 'crds']);
    for (const c of crds.items) if (!ours.has(c.spec.names.plural)) for (const n of [c.spec.names.singular, ...(c.spec.names.shortNames ?? [])]) if (n) others.add(n);
    expect(others.size).toBeGreaterThan(40);
    for (const def of CRD_DEFINITIONS) {
      for (const short of def.names.shortNames) {
        expect([short, others.has(short)]).toEqual([short, false]);
        const got = await kubectl(['get', short, '-o', 'name']);
        expect(got.stdout.split('\n').filter(Boolean).every((l) => l.startsWith(`${def.names.singular}.cells.platform.io/`))).toBe(true);
      }
    }
    expect(CRD_DEFINITIONS.flatMap((d) => d.names.shortNames)).not.toContain('cp');
  });
});
