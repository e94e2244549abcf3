// `kubectl cells` as a person runs it: the real plugin (node --import tsx src/cli/kubectl-cells.ts)
// against the API server, on Cells and a Migration whose status the test writes itself through the
// status subresource (no operator needed), and `route` against the real router on a real
// control-plane PostgreSQL.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type pg from 'pg';
import { silentLogger } from '../../src/log.js';
import type { RouterHandle } from '../../src/router/router.js';
import { startRouter } from '../../src/router/router.js';
import { syncCell } from '../../src/store/cells.js';
import { createPool } from '../../src/store/connection.js';
import { migrate } from '../../src/store/migrate.js';
import { placeCustomer, setPlacementState } from '../../src/store/placements.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { apply, e2eEnv, kubectl, kubectlJson, waitFor } from './support/kube.js';

const TIMEOUT_MS = 360_000; // room to wait out another suite's operator (withStatus)
const ENTRY = 'src/cli/kubectl-cells.ts';

interface PluginResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunningPlugin {
  /** Its exit code and whole output, once it ends. */
  result: Promise<PluginResult>;
  /** What it wrote to stdout so far. */
  stdout(): string;
  kill(): void;
}

/** Starts the plugin; `input` goes to its stdin (closed at once otherwise). */
function startPlugin(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunningPlugin {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: process.cwd(),
    env: { ...process.env, NODE_OPTIONS: '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.input ?? '');
  const result = new Promise<PluginResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
  return { result, stdout: () => stdout, kill: () => child.kill() };
}

/** Runs the plugin to its end. */
const plugin = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<PluginResult> => startPlugin(args, options).result;

const withKubeconfig = (args: string[]): string[] => [...args, '--kubeconfig', e2eEnv().kubeconfig];

const crdsInstalled = (process.env.E2E_CRDS ?? '').includes('cells.platform.io');
const describeIfCrds = crdsInstalled ? describe : describe.skip;
if (!crdsInstalled) process.stderr.write('kubectl-cells: the cell-operator CRDs are not installed (config/crd/ empty): skipped\n');

// Unique names: the cluster is shared with other suites.
const suffix = randomBytes(3).toString('hex');
const cellA = `kc-${suffix}-a`;
const cellB = `kc-${suffix}-b`;
const name = `kc-${suffix}-m`;
const T = '2025-06-01T12:00:00Z';

const cellManifest = (cell: string, maxCustomers: number) => ({
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'Cell',
  metadata: { name: cell },
  spec: { region: 'eu-west-1', capacity: { maxCustomers }, kafka: { topics: [{ name: 'telemetry', partitions: 3 }] } },
});

// A canary migration: step 0 moves one customer, step 1 waits for a person, step 2 moves the rest.
const migrationManifest = {
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'Migration',
  metadata: { name },
  spec: { from: cellA, to: cellB, customers: { all: true }, steps: [{ move: 1 }, { pause: {} }, { move: '100%' }] },
};

/** Writes status the way the operator would, through the status subresource. */
async function writeStatus(kind: 'cell' | 'migration', objectName: string, status: Record<string, unknown>): Promise<void> {
  await kubectl(['patch', kind, objectName, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** JSON with object keys sorted: the API server sends them in its own order. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
const SETTLE_MS = 240_000;

type StatusWrite = readonly [kind: 'cell' | 'migration', objectName: string, status: Record<string, unknown>];

/** How the object's status differs from what the test wrote (phase, customers); undefined when it holds. */
async function rewritten([kind, objectName, status]: StatusWrite): Promise<string | undefined> {
  const seen = (await kubectlJson<{ status?: Record<string, unknown> }>(['get', kind, objectName])).status ?? {};
  if (seen.phase === status.phase && canonical(seen.customers) === canonical(status.customers)) return undefined;
  return `${kind} ${objectName}: wrote ${canonical({ phase: status.phase, customers: status.customers })}, read back ${canonical({ phase: seen.phase, customers: seen.customers })}`;
}

async function firstBroken(writes: readonly StatusWrite[]): Promise<string | undefined> {
  for (const w of writes) {
    const broken = await rewritten(w);
    if (broken) return broken;
  }
  return undefined;
}

/**
 * Writes `writes`, then runs `run` (the plugin) on them; again if the status did not hold from
 * before the run to after it (`after`: what the run itself wrote last). The cluster is shared: an
 * operator started by another suite reconciles every Cell and Migration, ours included, and
 * rewrites their status at once. Then wait for it to go: we test the plugin, not its status.
 * `run` must be repeatable.
 */
async function withStatus<T>(writes: readonly StatusWrite[], run: () => Promise<T>, after: readonly StatusWrite[] = writes): Promise<T> {
  const deadline = Date.now() + SETTLE_MS;
  for (let said = false; ; ) {
    for (const w of writes) await writeStatus(...w);
    await sleep(1_500);
    let broken = await firstBroken(writes);
    if (!broken) {
      let failure: unknown;
      let result: T | undefined;
      try {
        result = await run();
      } catch (err) {
        failure = err;
      }
      broken = await firstBroken(after);
      if (!broken) {
        if (failure !== undefined) throw failure;
        return result as T;
      }
    }
    if (Date.now() > deadline) throw new Error(`another controller kept rewriting the status of ${broken} for ${SETTLE_MS / 1000}s (an operator of another suite on this shared cluster?)`);
    if (!said) process.stderr.write(`kubectl-cells e2e: another controller rewrites the status of ${broken}; waiting for it to stop\n`);
    said = true;
    await sleep(5_000);
  }
}

const ready = (status: 'True' | 'False', reason: string, message = '') => ({ type: 'Ready', status, reason, message, lastTransitionTime: T });

const waitingForPromotion = {
  phase: 'Paused',
  currentStep: 1,
  progress: '1/40',
  customers: { total: 40, pending: 39, inFlight: 0, moved: 1, failed: 0, movedBack: 0 },
  rowsCopied: 5120,
  message: `Step 1: waiting for a person. Promote with kubectl patch migration ${name} --type merge -p '{"spec":{"promotedStep":1}}', or abort with spec.abort: true.`,
  conditions: [{ type: 'Paused', status: 'True', reason: 'WaitingForPromotion', message: 'Step 1: waiting for a person.', lastTransitionTime: T }],
};

const moving = {
  phase: 'Progressing',
  currentStep: 2,
  progress: '12/40',
  customers: { total: 40, pending: 24, inFlight: 4, moved: 12, failed: 0, movedBack: 0 },
  rowsCopied: 61440,
  rowsPerSecond: 2048,
  estimatedCompletionTime: '2099-01-01T00:00:00Z',
  message: 'Step 2 (move 100%): 12/40 moved, 4 in flight.',
  conditions: [{ type: 'Paused', status: 'False', reason: 'NotPaused', message: 'The migration is not paused.', lastTransitionTime: T }],
};

interface MigrationSpecSeen {
  spec: { paused?: boolean; abort?: boolean; promotedStep?: number; retry?: { failedBefore: string; customers?: string[] } };
}
const spec = async () => (await kubectlJson<MigrationSpecSeen>(['get', 'migration', name])).spec;

describeIfCrds('kubectl cells against the API server', () => {
  beforeAll(async () => {
    await apply([cellManifest(cellA, 1000), cellManifest(cellB, 1000), migrationManifest]);
  }, TIMEOUT_MS);

  afterAll(async () => {
    await kubectl(['delete', 'migration', name, `drain-${cellB}`, '--ignore-not-found', '--wait=false'], { allowFailure: true });
    await kubectl(['delete', 'cell', cellA, cellB, '--ignore-not-found', '--wait=false'], { allowFailure: true });
  }, TIMEOUT_MS);

  it('shows every cell with a capacity bar and its readiness, and the open migration', async () => {
    const result = await withStatus(
      [
        ['cell', cellA, { phase: 'Ready', customers: 480, conditions: [ready('True', 'Ready')] }],
        ['cell', cellB, { phase: 'Provisioning', customers: 0, conditions: [ready('False', 'KafkaNotReady', `Kafka cell-${cellB}/${cellB} is not ready yet.`)] }],
        ['migration', name, waitingForPromotion],
      ],
      () => plugin(withKubeconfig(['status'])),
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^CELL\s+REGION\s+STATE\s+PHASE\s+READY\s+CUSTOMERS$/);
    expect(lines.find((l) => l.startsWith(`${cellA} `))).toMatch(/eu-west-1\s+Active\s+Ready\s+Ready\s+\[#####\.\.\.\.\.\]\s+48%\s+480\/1,000$/);
    expect(lines.find((l) => l.startsWith(`${cellB} `))).toMatch(/Provisioning\s+NotReady \(KafkaNotReady\)\s+\[\.\.\.\.\.\.\.\.\.\.\]\s+0%\s+0\/1,000$/);
    expect(lines).toContain(`  ${cellB}: Kafka cell-${cellB}/${cellB} is not ready yet.`);
    expect(lines.find((l) => l.startsWith(`${name} `))).toMatch(new RegExp(`${cellA}\\s+${cellB}\\s+Paused\\s+1: pause \\(until promoted\\)\\s+\\[#\\.{9}\\] 1/40$`));
  }, TIMEOUT_MS);

  it('watches a migration live until it pauses for promotion, then prints the command to promote it', async () => {
    const paused = { ...waitingForPromotion, estimatedCompletionTime: null, rowsPerSecond: null };
    const result = await withStatus(
      [['migration', name, { ...moving, currentStep: 0, customers: { ...moving.customers, moved: 0 } }]],
      async () => {
        const watching = startPlugin(withKubeconfig(['migration', 'watch', name]), { timeoutMs: 90_000 });
        try {
          // Once it has shown the moving migration, pause it the way the operator would.
          await waitFor(() => watching.stdout().includes('Progressing'), { timeoutMs: 60_000, description: 'the watch to show the moving migration' });
          await sleep(2_000); // a few reads with nothing new: no new line
          await writeStatus('migration', name, paused);
          return await watching.result;
        } finally {
          watching.kill();
        }
      },
      [['migration', name, paused]],
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.trimEnd().split('\n');
    // Not a terminal: one plain line per change, no ANSI.
    expect(result.stdout).not.toContain('\x1b[');
    expect(lines[0]).toMatch(new RegExp(`^${name}  Progressing  step 0 of 0..2: move 1  \\[\\.{30}\\]\\s+0%  0/40 moved  4 in flight, 24 pending, 0 failed, 61,440 rows copied \\(2,048/s\\)  ETA .*2099-01-01 00:00 UTC\\)$`));
    expect(lines.filter((l) => l.includes('  Progressing  '))).toHaveLength(1);
    expect(lines).toContain(`${name}  Paused  step 1 of 0..2: pause (until promoted)  [#.............................]   2%  1/40 moved  0 in flight, 39 pending, 0 failed, 5,120 rows copied`);
    expect(lines.slice(-4)).toEqual([
      `Migration ${name} is paused at step 1 and waits for you to promote it.`,
      `  promote: kubectl cells migration promote ${name}`,
      `           (or kubectl patch migration ${name} --type merge -p '{"spec":{"promotedStep":1}}', or commit spec.promotedStep: 1 in Git)`,
      `  abort:   kubectl cells migration abort ${name}   (moves the customers already moved back; cannot be undone)`,
    ]);
  }, TIMEOUT_MS);

  it('promotes the pause the migration waits at: spec.promotedStep becomes status.currentStep', async () => {
    const result = await withStatus([['migration', name, waitingForPromotion]], async () => {
      await kubectl(['patch', 'migration', name, '--type=merge', '-p', '{"spec":{"promotedStep":null}}']); // repeatable
      return plugin(withKubeconfig(['migration', 'promote', name]));
    });
    expect(result).toEqual({ code: 0, stdout: `migration ${name} promoted: the pause at step 1 ends (spec.promotedStep: 1).\n`, stderr: '' });
    expect((await spec()).promotedStep).toBe(1);
  }, TIMEOUT_MS);

  it('refuses to promote a migration that is not waiting at a pause (exit 1), and changes nothing', async () => {
    const before = await spec();
    const result = await withStatus([['migration', name, moving]], () => plugin(withKubeconfig(['migration', 'promote', name])));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `error: migration ${name} is not waiting at a pause: it is Progressing at step 2 (move 100%). Promote it when it pauses (kubectl cells migration watch ${name} tells you when).\n`,
    );
    expect((await spec()).promotedStep).toBe(before.promotedStep);
  }, TIMEOUT_MS);

  it('pauses and resumes: spec.paused flips', async () => {
    const paused = await plugin(withKubeconfig(['migration', 'pause', name]));
    expect(paused).toMatchObject({ code: 0, stderr: '' });
    expect(paused.stdout).toMatch(new RegExp(`^migration ${name} paused: `));
    expect((await spec()).paused).toBe(true);

    const resumed = await plugin(withKubeconfig(['migration', 'resume', name]));
    expect(resumed).toEqual({ code: 0, stdout: `migration ${name} resumed (spec.paused: false).\n`, stderr: '' });
    expect((await spec()).paused).toBe(false);
  }, TIMEOUT_MS);

  it('retries the failed customers through spec.retry, all of them or those named', async () => {
    // Every field of customers: a merge patch keeps those it does not name.
    const failed = { ...waitingForPromotion, customers: { total: 10, pending: 0, inFlight: 0, moved: 8, failed: 2, movedBack: 0 } };
    const before = Date.now() - 1000;
    const all = await withStatus([['migration', name, failed]], () => plugin(withKubeconfig(['migration', 'retry', name])));
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.stdout).toMatch(new RegExp(`^migration ${name}: its 2 failed customer\\(s\\) move again \\(spec.retry.failedBefore: `));
    const retry = (await spec()).retry!;
    expect(Date.parse(retry.failedBefore)).toBeGreaterThanOrEqual(before - 1000);
    expect(retry.customers).toBeUndefined();
    const some = await withStatus([['migration', name, failed]], () => plugin(withKubeconfig(['migration', 'retry', name, '--customer', 'acme'])));
    expect(some).toMatchObject({ code: 0, stderr: '' });
    expect((await spec()).retry?.customers).toEqual(['acme']);
  }, TIMEOUT_MS);

  it('cordons and uncordons a cell through spec.state, and drains one with a Migration', async () => {
    const state = async () => (await kubectlJson<{ spec: { state: string } }>(['get', 'cell', cellB])).spec.state;
    expect(await plugin(withKubeconfig(['cordon', cellB]))).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`^cell ${cellB} cordoned: `)) });
    expect(await state()).toBe('Cordoned');
    expect(await plugin(withKubeconfig(['cordon', cellB]))).toEqual({ code: 0, stdout: `cell ${cellB} is already cordoned (spec.state: Cordoned).\n`, stderr: '' });
    expect(await plugin(withKubeconfig(['uncordon', cellB]))).toMatchObject({ code: 0, stderr: '' });
    expect(await state()).toBe('Active');

    const drained = await plugin(withKubeconfig(['drain', cellB, '--to', cellA, '-o', 'json']));
    expect(drained).toMatchObject({ code: 0, stderr: '' });
    const created = JSON.parse(drained.stdout) as { metadata: { name: string; uid?: string }; spec: { from: string; to: string; customers: { all?: boolean } } };
    expect(created).toMatchObject({ metadata: { name: `drain-${cellB}` }, spec: { from: cellB, to: cellA, customers: { all: true } } });
    expect(created.metadata.uid).toBeDefined(); // as the API server stored it
    const again = await plugin(withKubeconfig(['drain', cellB, '--to', cellA]));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists already \(409\)/);
    expect(await plugin(withKubeconfig(['drain', cellB, '--to', `${cellB}-nope`]))).toMatchObject({ code: 1, stderr: expect.stringContaining(`cell ${cellB}-nope not found`) });
    await kubectl(['delete', 'migration', `drain-${cellB}`, '--wait=false']);
  }, TIMEOUT_MS);

  it('waits with status --timeout until every cell is Ready, following the watch, and gives up naming what is not', async () => {
    const notReady = await withStatus(
      [
        ['cell', cellA, { phase: 'Ready', customers: 1, conditions: [ready('True', 'Ready')] }],
        ['cell', cellB, { phase: 'Provisioning', customers: 0, conditions: [ready('False', 'KafkaNotReady', 'Kafka is not ready yet.')] }],
      ],
      () => plugin(withKubeconfig(['status', '--timeout', '3s'])),
    );
    expect(notReady.code).toBe(1);
    expect(notReady.stderr).toContain(`cell ${cellB} is not Ready (KafkaNotReady)`);
    // Turns Ready while the plugin waits: it sees it through the watch. (Cells of other suites on a
    // shared cluster may keep it waiting: only this cell's part is asserted.)
    const waiting = startPlugin(withKubeconfig(['status', '--timeout', '8s']));
    await new Promise((r) => setTimeout(r, 2000));
    await writeStatus('cell', cellB, { phase: 'Ready', customers: 0, conditions: [ready('True', 'Ready')] });
    const settled = await waiting.result;
    expect(settled.stderr).not.toContain(`cell ${cellB} is not Ready`);
    if (settled.code !== 0) expect(settled.stderr).toMatch(/^error: not settled after 8s: /);
  }, TIMEOUT_MS);

  it("shows a cell's children as a tree with their health, and follows them live with --watch", async () => {
    // No operator runs in this suite: the children are the test's to create.
    const namespace = `cell-${cellB}`;
    const tree = await plugin(withKubeconfig(['get', cellB]));
    expect(tree.code).toBe(0);
    expect(tree.stdout).toMatch(new RegExp(`^Cell ${cellB}  region eu-west-1`));
    for (const kind of ['Namespace', 'NetworkPolicy', 'Secret', 'KafkaNodePool', 'Kafka', 'KafkaTopic', 'StatefulSet', 'Service']) expect(tree.stdout).toMatch(new RegExp(`[├└]─ ${kind} `));
    expect(tree.stdout).toMatch(new RegExp(`├─ Namespace +${namespace} +✖ Missing`));
    expect(tree.stdout).toMatch(/\d+ children: \d+ Missing\n/);

    const watching = startPlugin(withKubeconfig(['get', cellB, '--watch']), { timeoutMs: 60_000 });
    try {
      await waitFor(() => watching.stdout().includes('children:'), { timeoutMs: 30_000, description: 'the first tree' });
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'cells.platform.io/cell': cellB } } });
      // The watch sees the namespace and draws the tree again (without a terminal: a new block).
      await waitFor(() => new RegExp(`├─ Namespace +${namespace} +✔ Healthy +Active`).test(watching.stdout()), { timeoutMs: 30_000, description: 'the namespace to turn Healthy in the live tree' });
      expect(watching.stdout()).toMatch(/1 Healthy, \d+ Missing/);
    } finally {
      watching.kill();
      await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false'], { allowFailure: true });
    }
    expect(await plugin(withKubeconfig(['get', cellB, '--watch', '-o', 'json']))).toMatchObject({ code: 2, stderr: expect.stringContaining('--watch draws the tree') });
  }, TIMEOUT_MS);

  it('prints a cell as JSON or YAML, and its version', async () => {
    const json = await plugin(withKubeconfig(['get', cellA, '-o', 'json']));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'Cell', metadata: { name: cellA } });
    const yaml = await plugin(withKubeconfig(['get', cellA, '-o', 'yaml']));
    expect(yaml.stdout).toContain(`name: ${cellA}`);
    const version = await plugin(['version', '-o', 'json']);
    expect(JSON.parse(version.stdout)).toMatchObject({ plugin: 'kubectl-cells', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  }, TIMEOUT_MS);

  it('does not abort without confirmation, and aborts with --yes', async () => {
    const unconfirmed = await plugin(withKubeconfig(['migration', 'abort', name]), { input: 'no\n' });
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toContain('This cannot be undone');
    expect(unconfirmed.stderr).toContain('not aborted.');
    expect((await spec()).abort).toBe(false);

    const aborted = await plugin(withKubeconfig(['migration', 'abort', name, '--yes']));
    expect(aborted).toMatchObject({ code: 0, stderr: '' });
    expect(aborted.stdout).toMatch(new RegExp(`^migration ${name} aborting: customers already moved go back to ${cellA}\\.`));
    expect((await spec()).abort).toBe(true);
  }, TIMEOUT_MS);

  it('says so when the migration does not exist (exit 1) or the command is wrong (exit 2)', async () => {
    const missing = await plugin(withKubeconfig(['migration', 'pause', `${name}-nope`]));
    expect(missing).toEqual({ code: 1, stdout: '', stderr: `error: migration ${name}-nope not found (kubectl get migrations lists them)\n` });
    const wrong = await plugin(['migration', 'promote']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: migration promote needs the name of a Migration\n\nusage: kubectl cells migration promote NAME/);
  }, TIMEOUT_MS);
});

/** A TCP port nothing listens on (taken, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

describe('kubectl cells route against the real router', () => {
  let server: PostgresServer | undefined;
  let pool: pg.Pool | undefined;
  let router: RouterHandle | undefined;

  beforeAll(async () => {
    server = await startPostgres();
    const url = await server.createDatabase();
    pool = createPool({ url, poolMax: 2 });
    await migrate(pool);
    for (const cell of ['eu-west-1a', 'eu-west-1b']) {
      await syncCell(pool, {
        name: cell,
        region: 'eu-west-1',
        state: 'Active',
        ready: true,
        weight: 100,
        maxCustomers: 1000,
        endpoints: { kafkaBootstrap: `${cell}-kafka-bootstrap.cell-${cell}.svc:9092` },
      });
    }
    await placeCustomer(pool, { customerId: 'acme', cell: 'eu-west-1a' });
    await placeCustomer(pool, { customerId: 'globex', cell: 'eu-west-1b' });
    await setPlacementState(pool, 'globex', 'Fenced');
    router = await startRouter({ database: { url }, host: '127.0.0.1', port: 0, log: silentLogger(), defaultMetrics: false, waitForIndex: true, closeGraceMs: 100 });
  }, TIMEOUT_MS);

  afterAll(async () => {
    await router?.close();
    await pool?.end();
    await server?.stop();
  }, TIMEOUT_MS);

  it('prints where a customer lives', async () => {
    const result = await plugin(['route', 'acme', '--router-url', router!.url]);
    expect(result).toEqual({
      code: 0,
      stdout: [
        'customer   acme',
        'cell       eu-west-1a',
        'region     eu-west-1',
        'state      Active',
        'epoch      1',
        'endpoints',
        '  kafkaBootstrap  eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092',
        '',
      ].join('\n'),
      stderr: '',
    });
  }, TIMEOUT_MS);

  it('says that a fenced customer is being moved (the router answers 503), taking the URL from CELL_ROUTER_URL', async () => {
    const result = await plugin(['route', 'globex'], { env: { CELL_ROUTER_URL: router!.url } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('state      Fenced\n');
    expect(result.stdout).toContain('globex is being moved to another cell (Fenced): the router answers 503 for it until the cut-over; retry in 2s.\n');
    expect(result.stdout).toContain('Until then the cell databases refuse its writes (SQLSTATE ZF001); ask again after the cut-over');
    expect(result.stdout).not.toContain('eu-west-1b'); // a fenced answer carries no route
  }, TIMEOUT_MS);

  it('says an unknown customer is not placed (exit 1)', async () => {
    const result = await plugin(['route', 'nobody', '--router-url', router!.url]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: customer nobody is not placed: the router does not know it (404 NotFound: customer nobody is not placed).\n',
    });
  }, TIMEOUT_MS);

  it('says the router cannot be reached when nothing listens (exit 1)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await plugin(['route', 'acme', '--router-url', url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^error: cannot reach the router at ${url}: ECONNREFUSED\\.\\n`));
    expect(result.stderr).toContain('port-forward svc/cell-operator-router 8090:8090');
  }, TIMEOUT_MS);
});
