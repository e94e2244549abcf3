// Releases through canary cells, in waves, on the local control plane: five Cells on a real
// PostgreSQL, kwok making the Deployments' pods ready (or, for an image ending in -never-ready,
// never), and the operator as a process. A release goes canary → wave → all with a timed pause and
// a promotion; a Cell edited meanwhile keeps its edit and the release's version; a version that never
// becomes ready stops at the canary and goes back; an abort mid-way puts the reached cells back, the
// last first; the operator SIGKILLed mid-release resumes; releases the cluster's state cannot run
// say why in a condition, and those the API server can judge are refused naming the field.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { stringify } from 'yaml';
import { NEVER_READY_IMAGE_SUFFIX } from './cluster/kwok-config.js';
import { condition, deleteCells, getCell, isReady, waitForCell, waitNamespacesSettled, type Condition } from './support/cells.js';
import { startCellDatabases, type CellDatabases } from './support/cell-databases.js';
import type { Manifest } from './support/examples.js';
import { e2eEnv, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { startOperator, stopAllOperators, type OperatorProcess } from './support/operator.js';

const TIMEOUT_MS = 240_000;
const id = randomBytes(3).toString('hex');
const NAMES = ['a', 'b', 'c', 'd', 'e'].map((x) => `rel-${id}-${x}`);
const [A, B, C, D] = NAMES as [string, string, string, string, string];
const SECRETS_NAMESPACE = `rel-${id}-databases`;
const IMAGE = (tag: string) => `registry.example.com/ingest:${tag}`;
const RELEASES: string[] = [];

interface LiveRelease {
  metadata: { name: string; generation: number };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    observedGeneration?: number;
    currentStep?: number;
    progress?: string;
    cells?: { name: string; state: string; order: number; since: string }[];
    conditions?: Condition[];
    message?: string;
    failure?: { cell: string; reason: string };
  };
}

/** `kubectl cells ARGS`: the real plugin, from source. */
async function plugin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/kubectl-cells.ts', ...args, '--kubeconfig', e2eEnv().kubeconfig], {
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let databases: CellDatabases;
let operator: OperatorProcess;
let databaseUrl: string;

function manifests(host = '127.0.0.1', port = 5432): Manifest[] {
  const secret: Manifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cells', namespace: SECRETS_NAMESPACE },
    stringData: { username: `rel_${id}`, password: `pw-${id}` },
  };
  const cells = NAMES.map((name) => ({
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name, labels: { 'release-test': id, ...(name === C ? { canary: 'true' } : {}) } },
    spec: {
      region: 'eu-west-9',
      capacity: { maxCustomers: 1000 },
      kafka: {
        version: '4.1.0',
        controllers: { replicas: 1, storage: { size: '1Gi' } },
        brokers: { replicas: 1, storage: { size: '1Gi' } },
        topics: [{ name: 'telemetry', partitions: 1, replicas: 1, retentionHours: 1 }],
        telemetryTopic: 'telemetry',
      },
      database: {
        external: { host, port, database: name.replaceAll('-', '_'), sslMode: 'disable', secretRef: { name: 'cells', namespace: SECRETS_NAMESPACE } },
        tenantColumn: 'customer_id',
      },
      workloads: [{ name: 'ingest', image: IMAGE('1.0'), replicas: 1, env: [{ name: 'LOG_LEVEL', value: 'info' }] }],
    },
  }));
  return [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SECRETS_NAMESPACE } }, secret, ...cells];
}

async function applyAll(objects: object[]): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=e2e-test', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n') });
}

function release(name: string, spec: Record<string, unknown>): object {
  RELEASES.push(name);
  return { apiVersion: 'cells.platform.io/v1alpha1', kind: 'CellRelease', metadata: { name }, spec: { cells: { selector: { matchLabels: { 'release-test': id } } }, ...spec } };
}

async function getRelease(name: string): Promise<LiveRelease> {
  return kubectlJson<LiveRelease>(['get', 'cellrelease', name]);
}

async function waitRelease(name: string, predicate: (r: LiveRelease) => boolean, description: string, timeoutMs = 150_000): Promise<LiveRelease> {
  return waitFor(
    async () => {
      const r = await getRelease(name);
      if (r.status?.observedGeneration === r.metadata.generation && predicate(r)) return r;
      throw new Error(`CellRelease ${name}: ${JSON.stringify(r.status)}`);
    },
    { timeoutMs, intervalMs: 500, description: `CellRelease ${name} ${description}` },
  );
}

interface LiveDeployment {
  spec: { template: { spec: { containers: { image: string; env?: { name: string; value?: string }[] }[] } } };
}

async function container(cell: string): Promise<LiveDeployment['spec']['template']['spec']['containers'][number]> {
  const d = await kubectlJson<LiveDeployment>(['get', 'deployment', 'ingest', '-n', `cell-${cell}`]);
  return d.spec.template.spec.containers[0]!;
}

async function images(): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, (await container(n)).image] as const)));
}

const allOn = (tag: string) => Object.fromEntries(NAMES.map((n) => [n, IMAGE(tag)]));
const cellStates = (r: LiveRelease) => Object.fromEntries((r.status?.cells ?? []).map((c) => [c.name, c.state]));

/** Every cell Ready, running `tag` (by its Deployment and status.release). */
async function settledOn(tag: string, release: string | undefined): Promise<void> {
  await waitFor(
    async () => {
      for (const name of NAMES) {
        const cell = await getCell(name);
        const running = (cell?.status as { release?: { name: string } } | undefined)?.release?.name;
        if (!isReady(cell) || running !== release || (await container(name)).image !== IMAGE(tag)) throw new Error(`${name}: ready ${isReady(cell)}, release ${running}, image ${(await container(name)).image}`);
      }
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 1000, description: `every cell Ready on ${tag}` },
  );
}

describe('releases through canary cells, in waves', () => {
  beforeAll(async () => {
    databases = await startCellDatabases(manifests());
    await databases.query('CREATE DATABASE control_plane');
    databaseUrl = `postgres://${databases.server.user}@${databases.host}:${databases.port}/control_plane`;
    await waitNamespacesSettled([SECRETS_NAMESPACE, ...NAMES.map((n) => `cell-${n}`)]);
    operator = await startOperator({ name: `release-${id}`, databaseUrl, leaderElect: false, leaseNamespace: 'default' });
    await operator.waitReady(60_000);
    await applyAll(manifests(databases.host, databases.port));
    for (const name of NAMES) await waitForCell(name, isReady, 'to be Ready', 120_000);
  }, TIMEOUT_MS);

  afterAll(async () => {
    // Deleted releases withdraw their versions in waves (their finalizer), while the operator runs.
    if (RELEASES.length > 0) await kubectl(['delete', 'cellrelease', ...RELEASES, '--ignore-not-found', '--timeout=150s'], { allowFailure: true });
    await deleteCells(NAMES);
    await kubectl(['delete', 'namespace', SECRETS_NAMESPACE, '--wait=false', '--ignore-not-found'], { allowFailure: true });
    await stopAllOperators();
    for (const name of RELEASES) await kubectl(['patch', 'cellrelease', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
    await databases?.stop();
  }, TIMEOUT_MS);

  it('goes canary → one wave, then waits at pause: {} with the rest untouched', async () => {
    await applyAll([
      release(`rel-${id}-v2`, {
        version: '2.0',
        workloads: [{ name: 'ingest', image: IMAGE('2.0') }],
        canary: { selector: { matchLabels: { canary: 'true' } } },
        steps: [{ cells: 1 }, { pause: { duration: '3s' } }, { cells: 3 }, { pause: {} }, { cells: '100%' }],
        maxUnavailable: 2,
        bakeTime: '2s',
      }),
    ]);
    const paused = await waitRelease(`rel-${id}-v2`, (r) => r.status?.phase === 'Paused' && r.status.currentStep === 3, 'to wait for a promotion at step 3');
    expect(paused.status?.progress).toBe('3/5');
    // The canary first, then two more (maxUnavailable 2), by name.
    expect(paused.status?.cells?.map((c) => [c.name, c.state, c.order])).toEqual([
      [C, 'Updated', 0],
      [A, 'Updated', 1],
      [B, 'Updated', 2],
    ]);
    expect(condition(paused as never, 'Paused')).toMatchObject({ status: 'True', reason: 'WaitingForPromotion' });
    expect(await images()).toEqual({ ...allOn('1.0'), [A]: IMAGE('2.0'), [B]: IMAGE('2.0'), [C]: IMAGE('2.0') });
    // The Cells' specs stay as written; their status says what they run.
    const a = await getCell(A);
    expect((a?.spec.workloads as { image: string }[])[0]?.image).toBe(IMAGE('1.0'));
    expect((a?.status as { release?: object }).release).toMatchObject({ name: `rel-${id}-v2`, version: '2.0' });
    expect((await getCell(D))?.status).not.toHaveProperty('release');
    // What a person sees: kubectl get, and the plugin's view per step and per cell.
    const table = (await kubectl(['get', 'cellrelease', `rel-${id}-v2`])).stdout;
    expect(table).toMatch(/^NAME\s+VERSION\s+PHASE\s+STEP\s+PROGRESS\s+READY\s+AGE\n/);
    expect(table).toMatch(new RegExp(`^rel-${id}-v2\\s+2\\.0\\s+Paused\\s+3\\s+3/5\\s+False`, 'm'));
    const view = await plugin(['release', 'status', `rel-${id}-v2`]);
    expect(view.code).toBe(0);
    expect(view.stdout).toContain(`release rel-${id}-v2: Paused, version 2.0, 3/5 cells updated`);
    expect(view.stdout).toMatch(/▶ step 3: pause: \{\}/);
    expect(view.stdout).toMatch(new RegExp(`${C}\\s+Updated`));
  }, TIMEOUT_MS);

  it('keeps both a Cell edit made during the release and the release version', async () => {
    await kubectl(['patch', 'cell', A, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/workloads/0/env/-', value: { name: 'EDITED_IN_GIT', value: 'yes' } }])]);
    const edited = await waitFor(
      async () => {
        const c = await container(A);
        return c.env?.some((e) => e.name === 'EDITED_IN_GIT') ? c : undefined;
      },
      { timeoutMs: 60_000, description: `the edit of Cell ${A} on its Deployment` },
    );
    expect(edited.image).toBe(IMAGE('2.0'));
    expect(edited.env).toEqual(expect.arrayContaining([{ name: 'LOG_LEVEL', value: 'info' }, { name: 'EDITED_IN_GIT', value: 'yes' }]));
  }, TIMEOUT_MS);

  it('finishes once promoted, every cell on the new version and Ready', async () => {
    const promoted = await plugin(['release', 'promote', `rel-${id}-v2`]);
    expect(promoted).toMatchObject({ code: 0, stdout: `release rel-${id}-v2 promoted: the pause at step 3 ends (spec.promotedStep: 3).\n` });
    const done = await waitRelease(`rel-${id}-v2`, (r) => r.status?.phase === 'Succeeded', 'to succeed');
    expect(done.status?.progress).toBe('5/5');
    expect(condition(done as never, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(await images()).toEqual(allOn('2.0'));
    await settledOn('2.0', `rel-${id}-v2`);
    const events = await kubectlJson<{ items: { reason: string; type: string; count?: number }[] }>([
      'get', 'events', '-n', 'default', '--field-selector', `involvedObject.kind=CellRelease,involvedObject.name=rel-${id}-v2`,
    ]);
    expect(events.items.filter((e) => e.reason === 'CellReached').length).toBeGreaterThanOrEqual(1);
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['CellReached', 'CellReady', 'CellUpdated', 'ReleaseSucceeded']));
  }, TIMEOUT_MS);

  it('stops a version whose pods never become ready at the canary, and puts the canary back', async () => {
    const bad = `rel-${id}-v3`;
    await applyAll([
      release(bad, {
        version: '3.0',
        workloads: [{ name: 'ingest', image: IMAGE(`3.0${NEVER_READY_IMAGE_SUFFIX}`) }],
        canary: { names: [C] },
        steps: [{ cells: 1 }, { cells: '100%' }],
        progressDeadline: '20s',
      }),
    ]);
    await waitFor(async () => ((await container(C)).image.endsWith(NEVER_READY_IMAGE_SUFFIX) ? true : undefined), { timeoutMs: 60_000, description: 'the bad version on the canary' });
    // Meanwhile the old pod still serves (the Deployment stays Available): the canary is Updating,
    // not Degraded, Ready False (the release does not bake it), and still open to new customers.
    const updating = await waitForCell(C, (c) => c.status?.phase === 'Updating', 'the canary Updating during the stuck rollout', 15_000);
    expect(condition(updating, 'Ready')).toMatchObject({ status: 'False', reason: 'WorkloadsProgressing' });
    expect(condition(updating, 'Ready')?.message).toContain('still serves its customers and takes new ones');
    const cp = new pg.Client({ connectionString: databaseUrl });
    await cp.connect();
    try {
      expect((await cp.query<{ ready: boolean }>('SELECT ready FROM cells WHERE name = $1', [C])).rows).toEqual([{ ready: true }]);
    } finally {
      await cp.end();
    }
    const failed = await waitRelease(bad, (r) => r.status?.phase === 'Failed', 'to fail and roll back');
    expect(cellStates(failed)).toEqual({ [C]: 'RolledBack' });
    expect(failed.status?.failure).toMatchObject({ cell: C, reason: 'ProgressDeadlineExceeded' });
    expect(condition(failed as never, 'Stalled')).toMatchObject({ status: 'True' });
    // The canary runs its previous version again: that of the release before.
    await settledOn('2.0', `rel-${id}-v2`);
  }, TIMEOUT_MS);

  it('puts the reached cells back, the last first, when aborted mid-way', async () => {
    const name = `rel-${id}-v4`;
    await applyAll([release(name, { version: '4.0', workloads: [{ name: 'ingest', image: IMAGE('4.0') }], steps: [{ cells: 2 }, { pause: {} }] })]);
    await waitRelease(name, (r) => r.status?.phase === 'Paused' && r.status.progress === '2/5', 'to wait at its pause');
    expect(await images()).toEqual({ ...allOn('2.0'), [A]: IMAGE('4.0'), [B]: IMAGE('4.0') });
    expect(await plugin(['release', 'abort', name, '--yes'])).toMatchObject({ code: 0 });
    const aborted = await waitRelease(name, (r) => r.status?.phase === 'Aborted', 'to be aborted');
    const [first, second] = [...(aborted.status?.cells ?? [])].sort((x, y) => x.order - y.order);
    expect([first?.state, second?.state]).toEqual(['RolledBack', 'RolledBack']);
    // One at a time (maxUnavailable 1), the last reached first.
    expect(new Date(second!.since).getTime()).toBeLessThanOrEqual(new Date(first!.since).getTime());
    await settledOn('2.0', `rel-${id}-v2`);
    const refused = await kubectl(['patch', 'cellrelease', name, '--type=merge', '-p', '{"spec":{"abort":false}}'], { allowFailure: true });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/spec\.abort/);
  }, TIMEOUT_MS);

  it('resumes a release after the operator is SIGKILLed mid-way, reaching no cell twice', async () => {
    const name = `rel-${id}-v5`;
    await applyAll([release(name, { version: '5.0', workloads: [{ name: 'ingest', image: IMAGE('5.0') }], steps: [{ cells: '100%' }], bakeTime: '2s' })]);
    await waitRelease(name, (r) => (r.status?.cells ?? []).filter((c) => c.state === 'Updated').length >= 2, 'to update two cells');
    await operator.stop('SIGKILL');
    operator = await startOperator({ name: `release-${id}-2`, databaseUrl, leaderElect: false, leaseNamespace: 'default' });
    await operator.waitReady(60_000);
    const done = await waitRelease(name, (r) => r.status?.phase === 'Succeeded', 'to succeed after the restart');
    expect(done.status?.cells?.map((c) => c.order).sort()).toEqual([0, 1, 2, 3, 4]);
    await settledOn('5.0', name);
  }, TIMEOUT_MS);

  it('says in a condition what only the cluster can tell, and the API server refuses the rest naming the field', async () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      [`rel-${id}-unknown`, { workloads: [{ name: 'no-such-workload', image: IMAGE('9') }], steps: [{ cells: 1 }] }, 'UnknownWorkload', /^spec\.workloads\[0\]\.name: no selected cell has a workload named no-such-workload/],
      [`rel-${id}-empty`, { workloads: [{ name: 'ingest', image: IMAGE('9') }], cells: { selector: { matchLabels: { 'release-test': 'nobody' } } }, steps: [{ cells: 1 }] }, 'NoCells', /^spec\.cells\.selector: no Cell has matching labels/],
      [`rel-${id}-toomany`, { workloads: [{ name: 'ingest', image: IMAGE('9') }], steps: [{ cells: 9 }] }, 'StepsExceedCells', /^spec\.steps\[0\]\.cells: 9 cells, but only 5 are selected/],
    ];
    await applyAll(cases.map(([name, spec]) => release(name, spec)));
    for (const [name, , reason, message] of cases) {
      const r = await waitRelease(name, (x) => condition(x as never, 'Valid')?.status === 'False' && x.status?.phase === 'Pending', 'to say it cannot run');
      expect(condition(r as never, 'Valid')).toMatchObject({ reason, message: expect.stringMatching(message) });
      expect(r.status?.phase).toBe('Pending');
      expect(r.status?.cells).toBeUndefined();
    }
    const refused = await kubectl(['apply', '-f', '-'], {
      input: stringify(release(`rel-${id}-listed`, { workloads: [{ name: 'ingest', image: IMAGE('9') }], cells: { names: [A, B] }, steps: [{ cells: 3 }] })),
      allowFailure: true,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/spec\.steps: Invalid value.*a step counts more cells than spec\.cells\.names lists/);
    // None of them changed a Deployment.
    expect(await images()).toEqual(allOn('5.0'));
  }, TIMEOUT_MS);

  it('withdraws the versions of a deleted release in waves before the release goes', async () => {
    const name = `rel-${id}-v5`;
    await kubectl(['delete', 'cellrelease', name, '--wait=false']);
    const rollingBack = await waitFor(async () => {
      const r = await getRelease(name);
      return r.status?.phase === 'RollingBack' ? r : undefined;
    }, { timeoutMs: 60_000, description: `CellRelease ${name} to roll back on deletion` });
    expect(rollingBack.status?.message).toMatch(/^Deleted: its versions are withdrawn before it goes/);
    await waitFor(async () => ((await kubectl(['get', 'cellrelease', name, '--ignore-not-found'])).stdout.trim() === '' ? true : undefined), {
      timeoutMs: 150_000,
      intervalMs: 1000,
      description: `CellRelease ${name} to be gone`,
    });
    // Back on the release before it, the one that had reached them.
    await settledOn('2.0', `rel-${id}-v2`);
  }, TIMEOUT_MS);
});
