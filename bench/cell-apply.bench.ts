// Ten Cells on the local control plane: how long from `kubectl apply` of the Cells until every
// child exists with the operator running, against `kubectl apply --server-side` of the very same
// children rendered beforehand (the baseline: what the operator adds over a plain apply), like
// for like: one server-side apply per Cell, all at once, as the operator reconciles the Cells in
// parallel (and, for the old figure, one serial apply of every child). Then API
// writes per no-op reconcile (operator restarted with --resync 5, writes counted in the audit log
// over a quiet window) and the reconcile duration p99 (the operator's /metrics histogram).
// Goals: operator/baseline <= 1.5, 0 writes per no-op reconcile.
//
//   npm run bench:cells           (tsx bench/cell-apply.bench.ts; BENCH_CELLS=10, BENCH_ROUNDS=3)
//
// The cells are the three of examples/cells/ in turn (two on an external PostgreSQL, one with
// in-cluster Citus), renamed bench-<round>-<n>. Creation times are read from the API server's
// audit log (the last child created), so polling adds no error; t0 is taken right before kubectl.
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { desiredChildren } from '../src/controllers/cell/cell-children.js';
import type { Cell } from '../src/crds/cell.js';
import { issueKubeconfig, stopCluster } from '../test/e2e/cluster/local-cluster.js';
import { auditEventsSince, auditMark, getCell, parseMetric, WRITE_VERBS, type AuditEvent } from '../test/e2e/support/cells.js';
import { startCellDatabases } from '../test/e2e/support/cell-databases.js';
import { exampleManifests, type CellManifest, type Manifest } from '../test/e2e/support/examples.js';
import { setupE2e } from '../test/e2e/support/global-setup-impl.js';
import { kubectl, kubectlJson, waitFor } from '../test/e2e/support/kube.js';
import { startOperator, type OperatorProcess } from '../test/e2e/support/operator.js';

const CELLS = Number(process.env.BENCH_CELLS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const QUIET_WINDOW_S = 16;
const RESYNC_S = 5;
const id = randomBytes(2).toString('hex');
const OPERATOR_USER = `bench:cell-operator-${id}`;
const ADMIN_USER = 'cell-operator-admin';
const ROUND_LABEL = 'bench.cells.platform.io/round';
const CHILD_KINDS_PLURAL = 'networkpolicies,secrets,kafkanodepools,kafkas,kafkatopics,kafkausers,services,statefulsets,poddisruptionbudgets,deployments';
const log = (message: string) => process.stdout.write(`${message}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

await setupE2e();
if (process.env.E2E_CLUSTER !== 'local') throw new Error('the benchmark needs the local control plane (its audit log)');
const kubeconfig = await issueKubeconfig(`bench-operator-${id}`, OPERATOR_USER, ['system:masters']);
const databases = await startCellDatabases(exampleManifests());
const examples = exampleManifests({ database: { host: databases.host, port: databases.port } });
const templates = examples.filter((m): m is CellManifest => m.kind === 'Cell');
// The credentials Secrets (forced: a demo may have applied the same examples before).
await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=bench', '-f', '-'], {
  input: examples.filter((m) => m.kind !== 'Cell').map((m) => stringify(m)).join('---\n'),
});

function cellsOf(round: string): CellManifest[] {
  return Array.from({ length: CELLS }, (_, i) => {
    const template = templates[i % templates.length]!;
    return { ...template, metadata: { name: `bench-${id}-${round}-${String(i).padStart(2, '0')}`, labels: { [ROUND_LABEL]: round } } };
  });
}

/** The children the builders make for the live Cells: (kind, namespace, name), and the objects. */
async function rendered(cells: CellManifest[]): Promise<{ keys: Set<string>; objects: Manifest[] }> {
  const objects: Manifest[] = [];
  for (const c of cells) {
    const live = (await getCell(c.metadata.name))!;
    objects.push(
      ...(desiredChildren(live as unknown as Cell, {
        operatorNamespace: 'default',
        kafkaBootstrap: undefined,
        databaseCredentials: { username: 'cell_app', password: randomBytes(18).toString('base64url') },
      }) as Manifest[]),
    );
  }
  return { keys: new Set(objects.map(keyOf)), objects };
}

const keyOf = (o: { kind?: string; metadata?: { name?: string; namespace?: string } }) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const RESOURCE_KIND: Record<string, string> = {
  namespaces: 'Namespace', networkpolicies: 'NetworkPolicy', secrets: 'Secret', kafkanodepools: 'KafkaNodePool', kafkas: 'Kafka',
  kafkatopics: 'KafkaTopic', kafkausers: 'KafkaUser', services: 'Service', statefulsets: 'StatefulSet', poddisruptionbudgets: 'PodDisruptionBudget', deployments: 'Deployment',
};
// The audit log names a Namespace's own name as its namespace.
const auditKey = (e: AuditEvent) =>
  `${RESOURCE_KIND[e.objectRef?.resource ?? ''] ?? '?'}/${e.objectRef?.resource === 'namespaces' ? '' : (e.objectRef?.namespace ?? '')}/${e.objectRef?.name}`;

/** When the last of `keys` was created (201) by `user`, from the audit log; throws if one is missing. */
function lastCreation(mark: NonNullable<ReturnType<typeof auditMark>>, user: string, keys: Set<string>): number {
  const created = new Map<string, number>();
  for (const e of auditEventsSince(mark)) {
    if (e.user.username !== user || !WRITE_VERBS.has(e.verb) || e.responseStatus?.code !== 201 || e.objectRef?.subresource) continue;
    const key = auditKey(e);
    if (keys.has(key) && !created.has(key)) created.set(key, Date.parse(e.stageTimestamp));
  }
  const missing = [...keys].filter((k) => !created.has(k));
  if (missing.length > 0) throw new Error(`no creation of ${missing.length} children in the audit log, e.g. ${missing.slice(0, 3).join(', ')}`);
  return Math.max(...created.values());
}

async function countChildren(cells: CellManifest[]): Promise<number> {
  const names = cells.map((c) => c.metadata.name).join(',');
  const list = await kubectlJson<{ items: unknown[] }>(['get', CHILD_KINDS_PLURAL, '-A', '-l', `cells.platform.io/cell in (${names})`]);
  const namespaces = await kubectlJson<{ items: unknown[] }>(['get', 'namespaces', '-l', `cells.platform.io/cell in (${names})`]);
  return list.items.length + namespaces.items.length;
}

async function cleanup(cells: CellManifest[], operatorRunning: boolean): Promise<void> {
  const names = cells.map((c) => c.metadata.name);
  await kubectl(['delete', 'cell', ...names, '--wait=false', '--ignore-not-found']);
  if (!operatorRunning) await Promise.all(names.map((n) => kubectl(['patch', 'cell', n, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true })));
  await waitFor(async () => (await kubectlJson<{ items: unknown[] }>(['get', 'cells', '-l', ROUND_LABEL])).items.length === 0, {
    timeoutMs: 120_000,
    intervalMs: 500,
    description: 'the bench Cells to be deleted',
  });
  await kubectl(['delete', 'namespace', ...names.map((n) => `cell-${n}`), '--ignore-not-found', '--timeout=180s']);
}

// Reconcile durations, summed over the operator processes of the run: the /metrics histogram
// (every Cell the operator sees) and, exactly, the bench Cells' own from the debug log.
const durationBuckets = new Map<string, number>();
const benchDurationsMs: number[] = [];
async function collectDurations(op: OperatorProcess): Promise<void> {
  const { body } = await op.get('/metrics');
  for (const s of parseMetric(body, 'cell_operator_reconcile_duration_seconds_bucket', { controller: 'cell' })) {
    durationBuckets.set(s.labels.le!, (durationBuckets.get(s.labels.le!) ?? 0) + s.value);
  }
  benchDurationsMs.push(...benchReconciles(op).map((r) => r.ms));
}

interface Reconciled {
  key: string;
  ms: number;
  timeMs: number;
}

/** The reconciles of bench Cells in the operator's debug log ('reconciled', key, ms). */
function benchReconciles(op: OperatorProcess): Reconciled[] {
  const out: Reconciled[] = [];
  for (const line of op.output().split('\n')) {
    if (!line.includes('"msg":"reconciled"') || !line.includes(`"controller":"cell"`)) continue;
    const entry = JSON.parse(line) as { key: string; ms: number; time: string };
    if (entry.key.startsWith(`bench-${id}-`)) out.push({ key: entry.key, ms: entry.ms, timeMs: Date.parse(entry.time) });
  }
  return out;
}

function percentile(q: number, values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

/** histogram_quantile as Prometheus computes it: linear within the bucket. */
function quantile(q: number, buckets: Map<string, number>): number {
  const sorted = [...buckets.entries()].map(([le, n]) => ({ le: le === '+Inf' ? Infinity : Number(le), n })).sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.n ?? 0;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const { le, n } of sorted) {
    if (n >= rank) return le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevN)) / Math.max(1, n - prevN);
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

async function operatorRound(round: string): Promise<number> {
  const op = await startOperator({ name: `bench-${id}-${round}`, kubeconfig, leaderElect: false, logLevel: 'debug' });
  await op.waitReady(60_000);
  const cells = cellsOf(round);
  const mark = auditMark()!;
  const t0 = Date.now();
  await kubectl(['apply', '-f', '-'], { input: cells.map((c) => stringify(c)).join('---\n') });
  const { keys } = await waitFor(async () => {
    // The children's names need the Cells' uids only for owner references: render once they exist.
    const r = await rendered(cells);
    return (await countChildren(cells)) >= r.keys.size ? r : undefined;
  }, { timeoutMs: 180_000, intervalMs: 300, description: 'every child of the bench Cells' });
  const elapsed = lastCreation(mark, OPERATOR_USER, keys) - t0;
  log(`  operator  ${round}: ${keys.size} children of ${cells.length} Cells in ${sec(elapsed)}`);
  await collectDurations(op);
  await cleanup(cells, true);
  await op.stop();
  return elapsed;
}

/** `parallel`: one server-side apply per Cell, all at once (like for like); `serial`: one apply of every child (the old baseline). */
async function baselineRound(round: string, mode: 'parallel' | 'serial'): Promise<number> {
  const cells = cellsOf(round);
  await kubectl(['apply', '-f', '-'], { input: cells.map((c) => stringify(c)).join('---\n') }); // no operator runs: nothing happens
  const perCell = await Promise.all(cells.map((c) => rendered([c])));
  const keys = new Set(perCell.flatMap((r) => [...r.keys]));
  const apply = (objects: Manifest[]) =>
    kubectl(['apply', '--server-side', '--field-manager=cell-operator', '--force-conflicts', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n') });
  const mark = auditMark()!;
  const t0 = Date.now();
  if (mode === 'parallel') await Promise.all(perCell.map((r) => apply(r.objects)));
  else await apply(perCell.flatMap((r) => r.objects));
  const wall = Date.now() - t0;
  const elapsed = lastCreation(mark, ADMIN_USER, keys) - t0;
  log(`  baseline  ${round} (${mode === 'parallel' ? `${cells.length} applies at once` : 'one serial apply'}): ${keys.size} children in ${sec(elapsed)} (kubectl exited after ${sec(wall)})`);
  await cleanup(cells, false);
  return elapsed;
}

async function steadyState(): Promise<{ reconciles: number; writes: AuditEvent[]; durationsMs: number[] }> {
  const cells = cellsOf('steady');
  const op = await startOperator({ name: `bench-${id}-steady`, kubeconfig, leaderElect: false, logLevel: 'debug', args: [`--resync=${RESYNC_S}`] });
  await op.waitReady(60_000);
  await kubectl(['apply', '-f', '-'], { input: cells.map((c) => stringify(c)).join('---\n') });
  // Settled: every Cell has a status for its generation, and the external-database ones are Ready.
  await waitFor(async () => {
    const list = await kubectlJson<{ items: { metadata: { generation: number }; spec: { database: { external?: unknown } }; status?: { observedGeneration?: number; phase?: string } }[] }>(['get', 'cells', '-l', `${ROUND_LABEL}=steady`]);
    return list.items.length === cells.length && list.items.every((c) => c.status?.observedGeneration === c.metadata.generation && (!c.spec.database.external || c.status.phase === 'Ready'));
  }, { timeoutMs: 180_000, intervalMs: 500, description: 'the steady-state Cells to settle' });
  await new Promise((r) => setTimeout(r, 3000));
  const mark = auditMark()!;
  const from = Date.now();
  await new Promise((r) => setTimeout(r, QUIET_WINDOW_S * 1000));
  const to = Date.now();
  const inWindow = benchReconciles(op).filter((r) => r.timeMs >= from && r.timeMs <= to);
  const reconciles = inWindow.length;
  // Writes to the bench Cells and to anything in their namespaces (on a shared cluster the
  // operator also reconciles other people's objects: not ours to count).
  const names = new Set(cells.map((c) => c.metadata.name));
  const namespaces = new Set(cells.map((c) => `cell-${c.metadata.name}`));
  const writes = auditEventsSince(mark).filter(
    (e) =>
      e.user.username === OPERATOR_USER &&
      WRITE_VERBS.has(e.verb) &&
      ((e.objectRef?.resource === 'cells' && names.has(e.objectRef.name ?? '')) || namespaces.has(e.objectRef?.namespace ?? '') || namespaces.has(e.objectRef?.name ?? '')),
  );
  await collectDurations(op);
  await cleanup(cells, true);
  await op.stop();
  return { reconciles, writes, durationsMs: inWindow.map((r) => r.ms) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Cells (and their namespaces) a crashed earlier run left behind. */
async function removeLeftovers(): Promise<void> {
  const left = await kubectlJson<{ items: { metadata: { name: string } }[] }>(['get', 'cells', '-l', ROUND_LABEL]);
  if (left.items.length === 0) return;
  log(`removing ${left.items.length} Cells left by an earlier run`);
  await cleanup(left.items.map((c) => ({ metadata: c.metadata }) as CellManifest), false);
}

try {
  await removeLeftovers();
  log(`cell-apply: ${CELLS} Cells (${templates.map((t) => t.metadata.name).join(', ')} in turn), ${ROUNDS} round(s) each, operator and baseline alternating, medians`);
  const operatorMs: number[] = [];
  const baselineMs: number[] = [];
  const serialMs: number[] = [];
  // A fresh API server is slow to serve the first objects of each kind (schemas, caches): one
  // round of each, not counted.
  log('  (warm-up round of each, not counted)');
  await operatorRound('w1');
  await baselineRound('w2', 'parallel');
  for (let r = 1; r <= ROUNDS; r++) {
    operatorMs.push(await operatorRound(`o${r}`));
    baselineMs.push(await baselineRound(`b${r}`, 'parallel'));
  }
  serialMs.push(await baselineRound('s1', 'serial')); // once: the old figure
  log(`no-op reconciles: operator restarted with --resync ${RESYNC_S}, ${QUIET_WINDOW_S} s quiet window`);
  const steady = await steadyState();
  const o = median(operatorMs);
  const b = median(baselineMs);
  log('');
  log(`time to every child, operator (median of ${ROUNDS}):  ${sec(o)}   [${operatorMs.map(sec).join(', ')}]`);
  log(`${CELLS} kubectl apply --server-side at once, a Cell's children each:  ${sec(b)}   [${baselineMs.map(sec).join(', ')}]`);
  log(`one serial kubectl apply --server-side of every child (old baseline):  ${sec(median(serialMs))}`);
  log(`ratio operator/baseline, like for like (parallel applies): ${(o / b).toFixed(2)}   (goal <= 1.5)`);
  log(`ratio operator/baseline, old figure (one serial apply):    ${(o / median(serialMs)).toFixed(2)}`);
  log(`API writes per no-op reconcile:                    ${(steady.writes.length / Math.max(1, steady.reconciles)).toFixed(3)}   (${steady.writes.length} writes in ${steady.reconciles} reconciles; goal 0)`);
  for (const w of steady.writes.slice(0, 10)) log(`    ${w.verb} ${w.objectRef?.resource}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''} ${w.objectRef?.namespace ?? ''}/${w.objectRef?.name ?? ''}`);
  const count = durationBuckets.get('+Inf') ?? 0;
  log(`reconcile duration p50 / p99, /metrics histogram:  ${(quantile(0.5, durationBuckets) * 1000).toFixed(0)} ms / ${(quantile(0.99, durationBuckets) * 1000).toFixed(0)} ms   (${count} reconciles of every Cell the operator saw)`);
  log(`reconcile duration p50 / p99, bench Cells:         ${percentile(0.5, benchDurationsMs).toFixed(0)} ms / ${percentile(0.99, benchDurationsMs).toFixed(0)} ms   (${benchDurationsMs.length} reconciles, from the debug log; the slow ones create 20-28 children)`);
  log(`  of which no-op (quiet window):                    ${percentile(0.5, steady.durationsMs).toFixed(0)} ms / ${percentile(0.99, steady.durationsMs).toFixed(0)} ms   (${steady.durationsMs.length} reconciles)`);
} finally {
  await removeLeftovers().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
  await databases.stop();
  await kubectl(['delete', 'namespace', 'cell-databases', '--wait=false', '--ignore-not-found'], { allowFailure: true });
  if (process.env.E2E_STARTED_CLUSTER === '1' && !process.env.E2E_KEEP_CLUSTER) await stopCluster();
}
