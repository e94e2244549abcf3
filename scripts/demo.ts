// `npm run demo`: the local control plane, a PostgreSQL server for the control plane and a Citus
// cluster (a coordinator and two workers) for each cell, or plain PostgreSQL when Citus cannot be
// built, the operator and the router, the three example cells, a thousand customers and a canary
// migration, shown until it waits for promotion; then everything keeps running until Ctrl-C.
// With Java and the cached Kafka jars, each cell has a real Kafka 4.1.1 broker (its address in the
// cell's Kafka status, as the e2e suites put it), the gateway and an ingestion worker per cell run
// as processes, and devices of some customers of the migrating cell send readings during the
// canary; at the pause every acknowledged reading of a moved customer is checked to be a row in its
// new cell exactly once. DEMO_KAFKA=0 runs without brokers (as when Java or the jars are missing).
// DEMO_EXIT_AT_PAUSE=1 stops everything and exits 0 once the migration waits (a scripted check);
// DEMO_CITUS=0 runs the cells on plain PostgreSQL, as when Citus cannot be built.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { citusBinDir } from '../test/support/citus.js';
import { installOperatorCrds, installStrimziCrds, type Kubectl } from '../test/e2e/cluster/crds.js';
import { runKubectl } from '../test/e2e/cluster/kubectl.js';
import { clusterStatus, ensureCluster } from '../test/e2e/cluster/local-cluster.js';
import { projectRoot } from '../test/e2e/cluster/paths.js';
import { reportRealBroker } from '../test/e2e/support/kafka-status.js';
import type { KafkaBroker } from '../test/support/kafka.js';
import { freePorts, sleep } from '../test/e2e/cluster/processes.js';
import type { Manifest } from '../test/e2e/support/examples.js';
import { startComponent, type ComponentProcess } from './demo/component-process.js';
import { checkExactlyOnce, DemoTraffic, DEVICE_FIRST_ID, kafkaProblem, startDataPath, startDemoBrokers, stopBrokers, type DataPathProcesses } from './demo/demo-kafka.js';
import { insertCustomerRows, startDemoDatabases, type CellDatabase, type CustomerRows, type DemoDatabases } from './demo/demo-databases.js';
import {
  customerPlacementManifests,
  DEMO_LABEL,
  DEMO_SELECTOR,
  type DemoDatabaseEndpoint,
  demoPlan,
  ENTERPRISE_CUSTOMERS,
  MIGRATION_FROM,
  MIGRATION_NAME,
  MIGRATION_TO,
  migrationManifest,
  PROMOTION_STEP,
} from './demo/demo-manifests.js';
import { nextSteps } from './demo/next-steps.js';
import { inOwnCluster, ownClusterCell, prepareOwnCluster, OWN_CLUSTER } from './demo/own-cluster.js';
import { CUSTOMER_GROUPS, demoCustomers, onboardCustomers } from './demo/onboarding.js';
import { ensurePrerequisites } from './demo/prerequisites.js';
import { cleanUpPreviousRun, DemoRecord, foreignObjects, removeDemoObjects } from './demo/previous-run.js';

const root = projectRoot();
const demoDir = path.join(root, '.local', 'demo');
const exitAtPause = ['1', 'true', 'yes'].includes((process.env.DEMO_EXIT_AT_PAUSE ?? '').toLowerCase());
const FIELD_MANAGER = 'cell-operator-demo';
const STEPS = 9;
const OPERATOR_RESYNC_SECONDS = 15;
/** Customers of the migrating cell whose devices send readings during the canary. */
const DEVICE_CUSTOMERS = 36;
const startedAt = Date.now();

const elapsed = (from = startedAt) => {
  const s = Math.round((Date.now() - from) / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};
const print = (text: string) => process.stdout.write(`${text}\n`);
const say = (message: string) => print(`    ${message}`);
let stepNumber = 0;
const step = (title: string) => print(`\n[${++stepNumber}/${STEPS}] ${title}   (${elapsed()})`);
const indent = (text: string, by = '    ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

/** What runs, for the shutdown. */
const running: {
  operator?: ComponentProcess;
  router?: ComponentProcess;
  databases?: DemoDatabases;
  kubectl?: Kubectl;
  record?: DemoRecord;
  plugin?: ReturnType<typeof spawn>;
  brokers?: Map<string, KafkaBroker>;
  dataPath?: Partial<DataPathProcesses> & { started: ComponentProcess[] };
  traffic?: DemoTraffic;
} = {};
let shuttingDown = false;

async function shutDown(code: number): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => undefined);
  shuttingDown = true;
  running.plugin?.kill('SIGTERM');
  const stops: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
      stops.push(what);
    } catch (error) {
      print(`    could not stop ${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (running.router || running.operator || running.databases) print('\nStopping the demo...');
  if (running.traffic) await attempt('the devices', () => running.traffic!.stop());
  if (running.dataPath) await attempt('the gateway and the ingestion workers', () => Promise.all(running.dataPath!.started.map((p) => p.stop())));
  if (running.router) await attempt('the router', () => running.router!.stop());
  if (running.operator) await attempt('the operator', () => running.operator!.stop());
  // The demo's objects point at databases that are about to go: remove them (the next demo
  // creates them anew). Their operator is stopped, so their finalizers are removed first.
  if (running.kubectl && running.databases) {
    await attempt("the demo's Cells, CustomerPlacements and Migration", () =>
      removeDemoObjects(running.kubectl!, ['migrations', 'customerplacements', 'cells'], DEMO_SELECTOR, () => undefined, 30_000),
    );
  }
  if (running.brokers) await attempt('the Kafka brokers (their data deleted)', () => stopBrokers(running.brokers!.values()));
  if (running.databases) await attempt('the PostgreSQL servers (their data deleted)', () => running.databases!.stop());
  running.record?.remove();
  if (stops.length > 0) {
    print(`    stopped ${stops.join(', ')}.`);
    print('    The local cluster keeps running: npm run cluster:down stops it.');
  }
  process.exit(code);
}

function onSignal(signal: NodeJS.Signals): void {
  if (shuttingDown) {
    print(`${signal} again: exiting without waiting (PostgreSQL servers are stopped on exit)`);
    process.exit(130);
  }
  void shutDown(signal === 'SIGINT' ? 130 : 143);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** Throws (a ComponentError with the end of its log) when the operator or the router has exited. */
function assertComponentsRunning(): void {
  running.operator?.assertRunning();
  running.router?.assertRunning();
  for (const p of running.dataPath?.started ?? []) p.assertRunning();
}

async function waitUntil<T>(check: () => Promise<T | undefined>, timeoutMs: number, onTimeout: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    assertComponentsRunning();
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(await onTimeout());
    await sleep(1000);
  }
}

/** kubectl's messages when the API server does not answer (restarting, or briefly overloaded). */
const API_DOWN = /connection to the server .* was refused|connection refused|ECONNREFUSED|TLS handshake timeout|i\/o timeout|unexpected EOF|the server is currently unable to handle the request/i;

/** Retries a call for up to two minutes while the API server does not answer, and says so once. */
function patientKubectl(kubectl: Kubectl, patienceMs = 120_000): Kubectl {
  return async (args, options) => {
    const deadline = Date.now() + patienceMs;
    let said = false;
    for (;;) {
      let down: string | undefined;
      try {
        const result = await kubectl(args, { ...options, allowFailure: true });
        if (result.code === 0 || !API_DOWN.test(result.stderr)) {
          if (result.code !== 0 && !options?.allowFailure) {
            throw new Error(`kubectl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
          }
          return result;
        }
        down = result.stderr.trim();
      } catch (error) {
        if (!(error instanceof Error) || !API_DOWN.test(error.message) || /failed \(exit/.test(error.message)) throw error;
        down = error.message;
      }
      if (Date.now() > deadline) throw new Error(`the API server did not answer for ${patienceMs / 1000}s: ${down}`);
      if (!said) say('the API server does not answer (restarting?): retrying');
      said = true;
      await sleep(1000);
    }
  };
}

async function applyManifests(kubectl: Kubectl, manifests: Manifest[]): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], {
    input: manifests.map((m) => stringify(m)).join('---\n'),
  });
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface CellObject {
  metadata: { name: string };
  status?: { phase?: string; conditions?: Condition[] };
}

function readiness(cell: CellObject): string {
  const ready = cell.status?.conditions?.find((c) => c.type === 'Ready');
  const phase = cell.status?.phase ?? 'not reconciled yet';
  if (ready?.status === 'True') return 'Ready';
  const waiting = (cell.status?.conditions ?? []).filter((c) => c.type.endsWith('Ready') && c.type !== 'Ready' && c.status !== 'True');
  return `${phase}${waiting.length ? `: ${waiting.map((c) => `${c.type}=${c.status} (${c.reason ?? ''})`).join(', ')}` : ''}`;
}

/**
 * Waits until every named Cell is Ready; with `routing`, also ready in the routing table (where the
 * router looks when it places a customer), printing each cell's state when it changes.
 */
async function waitForCells(kubectl: Kubectl, names: string[], routing?: DemoDatabases['controlPlane']): Promise<void> {
  const last = new Map<string, string>();
  let cells: CellObject[] = [];
  await waitUntil(
    async () => {
      cells = (JSON.parse((await kubectl(['get', 'cells', '-l', DEMO_SELECTOR, '-o', 'json'])).stdout) as { items: CellObject[] }).items;
      const routable = routing ? new Set((await routing.query<{ name: string }>('SELECT name FROM cells WHERE ready')).map((r) => r.name)) : undefined;
      for (const cell of cells) {
        let now = readiness(cell);
        if (now === 'Ready' && routable && !routable.has(cell.metadata.name)) now = 'Ready, not yet in the routing table';
        if (last.get(cell.metadata.name) !== now) say(`${cell.metadata.name.padEnd(11)} ${now}`);
        last.set(cell.metadata.name, now);
      }
      return names.every((n) => last.get(n) === 'Ready') ? true : undefined;
    },
    180_000,
    async () => {
      const details = cells
        .filter((c) => last.get(c.metadata.name) !== 'Ready')
        .flatMap((c) => [
          `Cell ${c.metadata.name} is ${last.get(c.metadata.name) ?? 'not Ready'}:`,
          ...(c.status?.conditions ?? []).filter((k) => k.status !== 'True' || k.type === 'Stalled').map((k) => `  ${k.type}=${k.status} ${k.reason ?? ''}: ${k.message ?? ''}`),
        ]);
      return `the cells were not Ready within 3 minutes\n${details.join('\n')}\n(the operator's log: ${path.relative(root, running.operator!.logFile)})`;
    },
  );
}

async function routeOf(routerUrl: string, customer: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${routerUrl}/v1/routes/${customer}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function writePluginWrapper(dir: string, tsxLoader: string): void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'kubectl-cells');
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    file,
    `#!/bin/sh\n# kubectl cells, run from the sources of ${root} (written by npm run demo)\n` +
      `exec ${quote(process.execPath)} --import ${quote(tsxLoader)} ${quote(path.join(root, 'src/cli/kubectl-cells.ts'))} "$@"\n`,
  );
  chmodSync(file, 0o755);
}

/** Runs `kubectl cells migration watch` once: until the migration ends or waits for a person. */
async function watchMigration(tsxLoader: string, kubeconfig: string, deadline: number): Promise<number> {
  const plugin = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'src/cli/kubectl-cells.ts'), 'migration', 'watch', MIGRATION_NAME, `--kubeconfig=${kubeconfig}`], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  running.plugin = plugin;
  const exited = new Promise<number>((resolve) => plugin.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  try {
    for (;;) {
      const code = await Promise.race([exited, sleep(1000).then(() => undefined)]);
      if (code !== undefined) return code;
      assertComponentsRunning();
      if (Date.now() > deadline) throw new Error(`the migration did not reach its pause in time (the operator's log: ${path.relative(root, running.operator!.logFile)})`);
    }
  } finally {
    plugin.kill('SIGTERM');
    running.plugin = undefined;
  }
}

interface MigrationObject {
  status?: {
    phase?: string;
    currentStep?: number;
    progress?: string;
    message?: string;
    customers?: { total?: number; moved?: number; failed?: number };
    latestFailures?: { customer: string; reason: string; message?: string }[];
  };
}

/**
 * Waits (at most one resync) until every Cell's status.customers matches the control-plane
 * database, so that the CUSTOMERS column printed next is current.
 */
async function cellCountsCaughtUp(kubectl: Kubectl, databases: DemoDatabases): Promise<void> {
  const deadline = Date.now() + (OPERATOR_RESYNC_SECONDS + 5) * 1000;
  while (Date.now() < deadline) {
    const rows = await databases.controlPlane.query<{ name: string; n: string }>('SELECT name, (customers + reserved)::text AS n FROM cells');
    const cells = (JSON.parse((await kubectl(['get', 'cells', '-l', DEMO_SELECTOR, '-o', 'json'])).stdout) as { items: { metadata: { name: string }; status?: { customers?: number } }[] }).items;
    if (cells.every((c) => rows.some((r) => r.name === c.metadata.name && Number(r.n) === (c.status?.customers ?? 0)))) return;
    await sleep(1000);
  }
}

/**
 * Other `cell-operator operator` processes that may watch the demo's cluster: started with a
 * kubeconfig under this project's .local/, or without one from this project's directory (an
 * operator of another checkout watches that checkout's own local cluster).
 */
function otherOperators(): string[] {
  const ours = new Set([running.operator?.pid, process.pid]);
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || ours.has(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const at = argv.findIndex((a) => /(src\/main\.ts|dist\/main\.js|cell-operator)$/.test(a));
      if (at < 0 || argv[at + 1] !== 'operator') continue;
      const flag = argv.findIndex((a) => a === '--kubeconfig' || a.startsWith('--kubeconfig='));
      const kubeconfig = flag < 0 ? undefined : argv[flag]!.includes('=') ? argv[flag]!.slice('--kubeconfig='.length) : argv[flag + 1];
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const watchesOurs = kubeconfig ? path.resolve(cwd, kubeconfig).startsWith(path.join(root, '.local') + path.sep) : cwd === root;
      if (watchesOurs) found.push(`pid ${pid}: ${argv.slice(at).join(' ').slice(0, 200)}`);
    } catch {
      // gone meanwhile, or not readable
    }
  }
  return found;
}

/** Fails, saying what to do, when objects with the demo's names exist that the demo did not create. */
async function refuseForeignObjects(kubectl: Kubectl, cellNames: string[]): Promise<void> {
  const foreign = await foreignObjects(
    kubectl,
    [
      { resource: 'cells', names: cellNames },
      { resource: 'migrations', names: [MIGRATION_NAME] },
      { resource: 'customerplacements', names: ENTERPRISE_CUSTOMERS.map((c) => c.name) },
    ],
    DEMO_LABEL,
  );
  if (foreign.length === 0) return;
  throw new Error(
    `the cluster has ${foreign.join(', ')}, not created by the demo (kubectl apply -f examples/cells/, or an e2e test): ` +
      `the demo does not delete what it did not create. Delete them (kubectl delete ${foreign.join(' ')}; a Cell holding customers ` +
      `waits for its operator: kubectl patch cell NAME --type merge -p '{"metadata":{"finalizers":null}}') and run the demo again`,
  );
}

/**
 * Whether the recorded local cluster runs. A component that runs but is not healthy yet (an API
 * server restarting) gets a minute: ensureCluster would otherwise restart the whole cluster.
 */
async function localClusterRunning(): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  let announced = false;
  for (;;) {
    const status = await clusterStatus({ root });
    if (!status.recorded || status.components.length === 0 || status.components.some((c) => !c.running)) return false;
    const unhealthy = status.components.filter((c) => !c.healthy).map((c) => c.name);
    if (unhealthy.length === 0) return true;
    if (Date.now() > deadline) return false;
    if (!announced) say(`the local cluster runs but ${unhealthy.join(', ')} is not healthy yet: waiting a minute for it`);
    announced = true;
    await sleep(1000);
  }
}

/** The cached Citus build (built now when missing, as the tests do: minutes), or why there is none. */
function citusBuild(): { ok: true } | { ok: false; problem: string } {
  if (['0', 'false', 'no'].includes((process.env.DEMO_CITUS ?? '').toLowerCase())) return { ok: false, problem: 'DEMO_CITUS=0 asks for plain PostgreSQL' };
  say('the Citus build: cached in ~/.cache/cell-operator/citus (built from shared/thirdparty/citus when missing, about 3 minutes)');
  try {
    citusBinDir();
    return { ok: true };
  } catch (error) {
    return { ok: false, problem: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  }
}

/** A warning block that cannot be missed: what is not there, why, and how to get it. */
function warnLoudly(what: string, problem: string, fix: string): void {
  say('');
  for (const line of [`WARNING: ${what}`, problem, fix]) say(`!!! ${line}${line === problem ? '' : ' !!!'}`);
  say('');
}

const warnNoKafka = (problem: string) =>
  warnLoudly('Kafka is not available, the demo runs NO brokers, no gateway and no ingestion workers: no messages flow.', problem, 'Install Java 17 and resolve the jars with: bash scripts/setup.sh --demo (tools/kafka/resolve.sh)');
const warnNoCitus = (problem: string) =>
  warnLoudly('Citus is not available, the cells run on PLAIN PostgreSQL, not on Citus.', problem, 'Build it with: bash tools/citus/build.sh (scripts/setup.sh installs what it needs)');

interface CitusCellObject {
  metadata: { name: string };
  status?: { conditions?: Condition[]; database?: { citusVersion?: string; workers?: number; distributedTables?: number; referenceTables?: number } };
}

/** Waits until the operator has registered every cell's workers and distributed its tenant tables; says so per cell. */
async function waitForCitusCells(kubectl: Kubectl, names: string[]): Promise<void> {
  let cells: CitusCellObject[] = [];
  const done = (c: CitusCellObject) => (c.status?.database?.workers ?? 0) >= 2 && (c.status?.database?.distributedTables ?? 0) >= 2;
  await waitUntil(
    async () => {
      cells = (JSON.parse((await kubectl(['get', 'cells', '-l', DEMO_SELECTOR, '-o', 'json'])).stdout) as { items: CitusCellObject[] }).items;
      return names.every((n) => cells.some((c) => c.metadata.name === n && done(c))) ? true : undefined;
    },
    120_000,
    async () => `the operator did not register the Citus workers and distribute the tables of every cell within 2 minutes: ${JSON.stringify(cells.map((c) => [c.metadata.name, c.status?.database]))}`,
  );
  for (const c of cells.filter((x) => names.includes(x.metadata.name))) {
    const db = c.status?.database;
    say(`${c.metadata.name.padEnd(11)} Citus ${db?.citusVersion} with ${db?.workers} workers registered by the operator; ${db?.distributedTables} tables distributed by customer_id, ${db?.referenceTables ?? 0} reference tables`);
  }
}

/** Waits until every Cell reports its real broker and the routing table holds it (where the gateway and the Kafka drain look). */
async function waitForRealBrokers(kubectl: Kubectl, databases: DemoDatabases, brokers: Map<string, KafkaBroker>): Promise<void> {
  interface KafkaCell {
    metadata: { name: string };
    status?: { endpoints?: { kafkaBootstrap?: string } };
  }
  let cells: KafkaCell[] = [];
  await waitUntil(
    async () => {
      cells = (JSON.parse((await kubectl(['get', 'cells', '-l', DEMO_SELECTOR, '-o', 'json'])).stdout) as { items: KafkaCell[] }).items;
      const rows = await databases.controlPlane.query<{ name: string; bootstrap: string | null }>("SELECT name, endpoints->>'kafkaBootstrap' AS bootstrap FROM cells");
      return [...brokers].every(([cell, b]) => cells.some((c) => c.metadata.name === cell && c.status?.endpoints?.kafkaBootstrap === b.bootstrap) && rows.some((r) => r.name === cell && r.bootstrap === b.bootstrap))
        ? true
        : undefined;
    },
    90_000,
    async () => `the Cells did not report their real brokers within 90s: ${JSON.stringify(cells.map((c) => [c.metadata.name, c.status?.endpoints?.kafkaBootstrap]))}`,
  );
  for (const [cell, broker] of brokers) say(`${cell.padEnd(11)} Kafka status.listeners[].bootstrapServers = Cell status.endpoints.kafkaBootstrap = routing table: ${broker.bootstrap}`);
}

/** Stops the devices and checks that every reading acknowledged for a moved customer is a row in the target cell once; says what it found. */
async function checkDeliveries(traffic: DemoTraffic, movedCustomers: string[], target: CellDatabase, brokers: Map<string, KafkaBroker>): Promise<boolean> {
  await traffic.stop();
  running.traffic = undefined;
  const movedSet = new Set(movedCustomers);
  const moved = traffic.customers.filter((c) => movedSet.has(c));
  say(`the devices stopped; ${moved.length} of their ${traffic.customers.length} customers moved to ${MIGRATION_TO}, the others wait for the next step in ${MIGRATION_FROM}`);
  const check = await checkExactlyOnce({ fleet: traffic.fleet, moved, cell: target, brokers });
  if (!check.caughtUp) say('(the ingestion workers had not consumed their whole topics within 60s: counting anyway)');
  const missing = check.missing.reduce((n, m) => n + m.ids.length, 0);
  say(
    `readings of the moved customers: ${check.acknowledged} acknowledged by the gateway, ${check.rows} rows of theirs in ${MIGRATION_TO}'s database ` +
      `(rows for requests a device did not see acknowledged count too); ${missing} missing, ${check.duplicated.length} duplicated`,
  );
  if (missing === 0 && check.duplicated.length === 0 && check.acknowledged > 0) {
    say(`exactly once: every reading the gateway acknowledged for the moved customers is one row in ${MIGRATION_TO}`);
    return true;
  }
  if (check.acknowledged === 0) say('NO READINGS were acknowledged for the moved customers: the gateway or the brokers did not work (logs in .local/demo/)');
  for (const m of check.missing.slice(0, 5)) say(`READINGS MISSING for ${m.customer}: ${m.ids.length}, e.g. ids ${m.ids.slice(0, 5).join(', ')}`);
  for (const d of check.duplicated.slice(0, 5)) say(`READING DUPLICATED: ${d.customer} id ${d.id} ${d.copies} times`);
  return false;
}

async function main(): Promise<void> {
  mkdirSync(demoDir, { recursive: true });
  const stateFile = path.join(demoDir, 'state.json');
  const tsxLoader = import.meta.resolve('tsx');
  print(`cell-operator demo${exitAtPause ? ' (DEMO_EXIT_AT_PAUSE: stops at the pause)' : ''}`);

  step('Checking what the demo needs');
  const clusterRunning = await localClusterRunning();
  ensurePrerequisites(root, { needGo: !clusterRunning, say });
  say('Node, npm dependencies, PostgreSQL and openssl are there' + (clusterRunning ? '' : ', and Go'));
  const citus = citusBuild();
  say(citus.ok ? 'Citus is built: each cell runs on a Citus coordinator with two workers' : 'Citus is NOT available: the cells fall back to plain PostgreSQL (see the warning below)');
  const noKafka = ownClusterCell() ? 'DEMO_OWN_CLUSTER: the demo does not run brokers for a cell in a cluster of its own' : await kafkaProblem();
  say(noKafka === undefined ? 'Java and the Apache Kafka 4.1.1 jars are there: each cell gets a real broker' : 'Kafka is NOT available: no brokers, no messages flow (see the warning below)');
  await cleanUpPreviousRun(stateFile, say);
  const record = new DemoRecord(stateFile);
  record.update({});
  running.record = record;

  step('Local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)');
  if (!clusterRunning) say('not running: starting it; the first time this builds it from Go modules (about 11 minutes on 2 cores, progress below)');
  const clusterLog = (message: string) => process.stderr.write(`    [cluster] ${message}\n`);
  const cluster = await ensureCluster({ root, log: clusterLog });
  const kubectl = patientKubectl((args, options) => runKubectl(cluster.kubectl, cluster.kubeconfigPath, args, options));
  running.kubectl = kubectl;
  say(`${cluster.reused ? 'reusing the running' : 'started the'} local cluster at ${cluster.server} (kwok nodes: ${cluster.nodes.join(', ')})`);
  await installStrimziCrds(kubectl, root, (m) => say(m), { always: false });
  await installOperatorCrds(kubectl, root, (m) => say(m));
  const pluginDir = path.join(demoDir, 'bin');
  writePluginWrapper(pluginDir, tsxLoader);

  const plan = demoPlan();
  const cellNames = plan.cells.map((c) => c.name);
  await refuseForeignObjects(kubectl, cellNames);
  const removed = await removeDemoObjects(kubectl, ['migrations', 'customerplacements', 'cells'], DEMO_SELECTOR, say);
  if (removed > 0) say(`removed ${removed} objects of a previous demo`);

  step(
    `Databases: PostgreSQL for the control plane, ${citus.ok ? 'a Citus coordinator with two workers' : 'plain PostgreSQL (NOT Citus)'}${noKafka === undefined ? ' and a Kafka 4.1.1 broker' : ''} per cell (${cellNames.join(', ')})`,
  );
  if (!citus.ok) warnNoCitus(citus.problem);
  if (noKafka !== undefined) warnNoKafka(noKafka);
  // The brokers start meanwhile (a JVM each, 256 MB of heap).
  const brokersStarting = noKafka === undefined ? startDemoBrokers(cellNames, demoDir, (b) => record.addPid('kafkaPids', b.pid)) : undefined;
  brokersStarting?.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  const databases = await startDemoDatabases(
    plan.cells.map((c) => ({ cell: c.name, database: c.database, username: c.secret.username, password: c.secret.password })),
    (dir) => record.addDataDir(dir),
    { citus: citus.ok },
  );
  running.databases = databases;
  say(`control plane  ${databases.controlPlane.url}`);
  for (const db of databases.cells.values()) {
    say(`${db.cell.padEnd(14)} postgres://${db.username}@127.0.0.1:${db.server.port}/${db.database}  (tables readings, devices)`);
    if (db.workers.length > 0) say(`${''.padEnd(14)} Citus workers ${db.workers.map((w) => `127.0.0.1:${w.port}`).join(', ')}: the Cell lists them, the operator registers them`);
  }
  if (citus.ok) say(`(on the Citus nodes role ${plan.cells[0]?.secret.username} is a superuser: registering workers with citus_add_node needs one)`);
  if (brokersStarting) {
    running.brokers = await brokersStarting;
    for (const [cell, broker] of running.brokers) say(`${cell.padEnd(14)} Kafka 4.1.1 broker ${broker.bootstrap} (pid ${broker.pid}), topic telemetry with 3 partitions, log ${path.relative(root, broker.logFile)}`);
  }

  step(`The operator and the router${running.brokers ? ', the gateway and an ingestion worker per cell' : ''} (from source, logs in .local/demo/)`);
  const others = otherOperators();
  if (others.length > 0) {
    say('WARNING: other cell-operator processes run on this machine; one that watches the same cluster reconciles the demo\'s objects too,');
    say('with its own control-plane database, and will disturb the demo:');
    for (const other of others) say(`  ${other}`);
  }
  const [operatorPort, routerPort] = (await freePorts(2)) as [number, number];
  const tokenFile = path.join(demoDir, 'router-token');
  const token = randomBytes(24).toString('base64url'); // 32 characters
  writeFileSync(tokenFile, token, { mode: 0o600 });
  chmodSync(tokenFile, 0o600); // an existing file keeps its mode otherwise
  running.operator = startComponent({
    name: 'the operator',
    root,
    tsxLoader,
    logFile: path.join(demoDir, 'operator.log'),
    // --resync: a Cell's status.customers is read from the control-plane database when the Cell
    // is reconciled, and placing customers does not trigger that; every 15 s keeps the
    // CUSTOMERS column of kubectl get cells current during the demo (the default is 5 minutes).
    args: [
      'operator',
      '--kubeconfig', cluster.kubeconfigPath,
      '--leader-elect', 'false',
      '--database-url', databases.controlPlane.url,
      '--http-port', String(operatorPort),
      '--resync', String(OPERATOR_RESYNC_SECONDS),
      // The example cells take their database credentials from namespace cell-databases.
      '--allowed-namespaces', 'cell-databases',
      // With brokers, each move waits under its fence until the source cell's ingestion group has
      // consumed the customer's messages (the Kafka drain); without them there is nothing to drain.
      '--kafka-drain', running.brokers ? 'true' : 'false',
    ],
  });
  record.update({ operatorPid: running.operator.pid });
  await running.operator.waitHealthy(`http://127.0.0.1:${operatorPort}/readyz`, 90_000);
  say(`operator  pid ${running.operator.pid}, health and metrics on http://127.0.0.1:${operatorPort}, log .local/demo/operator.log`);
  running.router = startComponent({
    name: 'the router',
    root,
    tsxLoader,
    logFile: path.join(demoDir, 'router.log'),
    args: ['router', '--database-url', databases.controlPlane.url, '--host', '127.0.0.1', '--port', String(routerPort), '--token-file', tokenFile],
  });
  record.update({ routerPid: running.router.pid });
  const routerUrl = `http://127.0.0.1:${routerPort}`;
  await running.router.waitHealthy(`${routerUrl}/readyz`, 90_000);
  say(`router    pid ${running.router.pid}, ${routerUrl}, bearer token for writes in .local/demo/router-token, log .local/demo/router.log`);
  if (running.brokers) {
    const started: ComponentProcess[] = [];
    running.dataPath = { started };
    const onStarted = (p: ComponentProcess) => {
      started.push(p);
      record.addPid('dataPathPids', p.pid);
    };
    Object.assign(running.dataPath, await startDataPath({ root, tsxLoader, demoDir, routerUrl, brokers: running.brokers, databases: databases.cells, onStarted }));
    say(`gateway   pid ${running.dataPath.gateway!.pid}, ${running.dataPath.gatewayUrl} (POST /v1/telemetry/{customer}; asks the router where each customer lives), log .local/demo/gateway.log`);
    for (const [cell, worker] of running.dataPath.ingest!) {
      say(`ingest    ${cell.padEnd(11)} pid ${worker.pid}, group cell-ingest on ${running.brokers.get(cell)!.bootstrap}, rows into ${cell}'s readings, log .local/demo/ingest-${cell}.log`);
    }
  }

  step('Three cells in two regions, from examples/cells/');
  const endpoints = new Map<string, DemoDatabaseEndpoint>(
    [...databases.cells.values()].map((d) => [d.cell, { host: d.server.host, port: d.server.port, ...(d.workers.length > 0 ? { workers: d.workers } : {}) }]),
  );
  const ownCell = ownClusterCell();
  if (ownCell) {
    say(`DEMO_OWN_CLUSTER: cell ${ownCell} goes into a cluster of its own (${OWN_CLUSTER}, .local/${OWN_CLUSTER}/; docs/multi-cluster.md)`);
    const own = await prepareOwnCluster(root, kubectl, 'default', say);
    say(`cluster ${OWN_CLUSTER} at ${own.server}, its kubeconfig in Secret default/${OWN_CLUSTER}-kubeconfig`);
  }
  const cellManifests = ownCell ? inOwnCluster(plan.manifests(endpoints), ownCell) : plan.manifests(endpoints);
  mkdirSync(path.join(demoDir, 'manifests'), { recursive: true });
  writeFileSync(path.join(demoDir, 'manifests', 'cells.yaml'), cellManifests.map((m) => stringify(m)).join('---\n'));
  say('the example manifests are changed in code before they are applied (the result: .local/demo/manifests/cells.yaml):');
  for (const cell of plan.cells) say(`  ${cell.name} (${cell.region}): ${cell.change}, 127.0.0.1:${endpoints.get(cell.name)!.port}/${cell.database}`);
  await applyManifests(kubectl, cellManifests).catch(async (error: unknown) => {
    await refuseForeignObjects(kubectl, cellNames); // created by someone else meanwhile?
    throw error;
  });
  // Strimzi's place is kwok's: the stand-in reports each cell's real broker in its Kafka's status.
  if (running.brokers) await Promise.all([...running.brokers].map(([cell, broker]) => reportRealBroker(cell, broker.bootstrap, undefined, kubectl)));
  await waitForCells(kubectl, cellNames);
  if (running.brokers) await waitForRealBrokers(kubectl, databases, running.brokers);
  if (citus.ok) await waitForCitusCells(kubectl, cellNames);
  else warnNoCitus(citus.problem);
  // The real brokers' addresses roll each cell's workloads once more (a cell is Degraded meanwhile,
  // and the router places nobody there): Ready again, and so in the routing table, before step 6.
  await waitForCells(kubectl, cellNames, databases.controlPlane);
  print(indent((await kubectl(['get', 'cells', '-l', DEMO_SELECTOR])).stdout));

  step('A thousand customers through the router (POST /v1/customers:batch, NDJSON)');
  const customers = demoCustomers();
  for (const group of CUSTOMER_GROUPS) say(`${String(group.count).padStart(4)} ${group.prefix}-NNNN  ${group.description}`);
  const onboardStart = Date.now();
  const onboarded = await onboardCustomers(routerUrl, token, customers);
  say(
    `placed ${onboarded.summary.Created} new (${onboarded.summary.Existing} existing) in ${((Date.now() - onboardStart) / 1000).toFixed(1)}s: ` +
      [...onboarded.perCell.entries()].sort().map(([cell, n]) => `${cell} ${n}`).join(', '),
  );

  say('and the enterprise customers by manifest (CustomerPlacement, as a platform team keeps them in Git):');
  await applyManifests(kubectl, customerPlacementManifests());
  interface PlacementObject {
    metadata: { name: string; labels?: Record<string, string> };
    status?: { cell?: string; state?: string; epoch?: number; conditions?: Condition[] };
  }
  const placed = await waitUntil(
    async () => {
      const items = (JSON.parse((await kubectl(['get', 'customerplacements', '-l', DEMO_SELECTOR, '-o', 'json'])).stdout) as { items: PlacementObject[] }).items;
      return items.length === ENTERPRISE_CUSTOMERS.length && items.every((p) => p.status?.state === 'Active' && p.status.cell) ? items : undefined;
    },
    60_000,
    async () => `the CustomerPlacements were not all placed within 60s:\n${(await kubectl(['get', 'customerplacements', '-l', DEMO_SELECTOR, '-o', 'wide'])).stdout}`,
  );
  for (const p of placed) say(`  ${p.metadata.name.padEnd(20)} tier=${(p.metadata.labels?.tier ?? '').padEnd(10)} -> ${p.status?.cell} (epoch ${p.status?.epoch})`);

  step("A few rows per customer in its cell's database");
  const allIds = [...customers.map((c) => c.customer), ...ENTERPRISE_CUSTOMERS.map((c) => c.name)];
  const placements = await databases.controlPlane.query<{ customer_id: string; cell: string }>('SELECT customer_id, cell FROM placements WHERE customer_id = ANY($1::text[])', [allIds]);
  const rowsOf = new Map<string, CustomerRows>();
  allIds.forEach((id, i) => rowsOf.set(id, { customer: id, readings: 5 + ((i * 13) % 36), devices: 1 + (i % 3) }));
  for (const [cell, db] of databases.cells) {
    const rows = placements.filter((p) => p.cell === cell).map((p) => rowsOf.get(p.customer_id)!);
    const totals = await insertCustomerRows(db, rows);
    say(`${cell.padEnd(11)} ${String(rows.length).padStart(4)} customers, ${totals.readings} readings, ${totals.devices} devices`);
  }
  const sample = placements.find((p) => p.cell === MIGRATION_FROM && p.customer_id.startsWith('eu-std-'))?.customer_id ?? 'eu-std-0001';
  const route = await routeOf(routerUrl, sample);
  say(`GET ${routerUrl}/v1/routes/${sample} -> ${route.status} ${JSON.stringify(route.body)}`);

  step(`A canary Migration ${MIGRATION_NAME}: the tier=standard customers of ${MIGRATION_FROM} to ${MIGRATION_TO}`);
  const [{ n: selected } = { n: '0' }] = await databases.controlPlane.query<{ n: string }>(
    "SELECT count(*) AS n FROM placements WHERE cell = $1 AND labels->>'tier' = 'standard'",
    [MIGRATION_FROM],
  );
  const total = Number(selected);
  say(`selects ${total} customers; steps: move 1 (the canary), pause 10s, move 10% (${Math.ceil(total / 10)}), pause {} until a person promotes, move 100%`);
  say('maxConcurrent 4, drainWait 500ms, retention 1m; progress from the kubectl plugin: kubectl cells migration watch ' + MIGRATION_NAME);
  const gatewayUrl = running.dataPath?.gatewayUrl;
  if (gatewayUrl) {
    // The first customers in the migration's order (SmallestFirst: fewest devices, then the id): most move at step 3.
    const withDevices = (
      await databases.controlPlane.query<{ customer_id: string }>(
        "SELECT customer_id FROM placements WHERE cell = $1 AND labels->>'tier' = 'standard' ORDER BY expected_devices, customer_id LIMIT $2",
        [MIGRATION_FROM, DEVICE_CUSTOMERS],
      )
    ).map((r) => r.customer_id);
    running.traffic = new DemoTraffic(gatewayUrl, withDevices, [MIGRATION_FROM, MIGRATION_TO], databases.cells, say);
    say(`devices of ${withDevices.length} of them (the first in the migration's order) send 10 readings every 2s each through the gateway;`);
    say('a [traffic] line every 2s: readings per second the gateway acknowledged, per cell, and rows per second each cell\'s ingestion worker wrote');
    await sleep(6000);
  }
  const migration = migrationManifest();
  writeFileSync(path.join(demoDir, 'manifests', 'migration.yaml'), stringify(migration));
  await applyManifests(kubectl, [migration]);
  // The watch ends at the pause, at the end, or on an error of its own (the API server went away
  // at the wrong moment): then it is started again.
  const watchDeadline = Date.now() + 10 * 60_000;
  let status: NonNullable<MigrationObject['status']> = {};
  let watchCode = 0;
  for (let attempt = 1; ; attempt++) {
    watchCode = await watchMigration(tsxLoader, cluster.kubeconfigPath, watchDeadline);
    status = (JSON.parse((await kubectl(['get', 'migration', MIGRATION_NAME, '-o', 'json'])).stdout) as MigrationObject).status ?? {};
    const settled = (status.phase === 'Paused' && status.currentStep === PROMOTION_STEP) || ['Succeeded', 'Failed', 'Aborted'].includes(status.phase ?? '');
    if (settled || watchCode === 0 || attempt >= 5 || Date.now() > watchDeadline) break;
    say(`(the watch stopped with exit code ${watchCode} while the migration is ${status.phase ?? 'Pending'}: watching again)`);
  }
  if (status.phase !== 'Paused' || status.currentStep !== PROMOTION_STEP) {
    const failures = (status.latestFailures ?? []).map((f) => `  ${f.customer}: ${f.reason} ${f.message ?? ''}`);
    throw new Error(
      `the migration did not stop at its pause for promotion (watch exit code ${watchCode}): phase ${status.phase}, step ${status.currentStep}, ` +
        `${status.progress ?? ''}: ${status.message ?? ''}\n${failures.join('\n')}\n(the operator's log: ${path.relative(root, running.operator!.logFile)})`,
    );
  }

  step('Where the migration stands');
  const wereInSource = placements.filter((p) => p.cell === MIGRATION_FROM).map((p) => p.customer_id);
  const moved = await databases.controlPlane.query<{ customer_id: string; epoch: string }>(
    'SELECT customer_id, epoch FROM placements WHERE cell = $1 AND customer_id = ANY($2::text[]) ORDER BY customer_id',
    [MIGRATION_TO, wereInSource],
  );
  const target = databases.cells.get(MIGRATION_TO)!;
  // One grouped count per table: Citus runs these on every worker (a correlated subquery per customer it refuses).
  // The readings the devices sent (ids from DEVICE_FIRST_ID) are checked apart, against what the gateway acknowledged.
  const countIn = async (table: 'readings' | 'devices') =>
    new Map(
      (
        await target.query<{ customer_id: string; n: string }>(
          `SELECT customer_id, count(*)::text AS n FROM ${table} WHERE customer_id = ANY($1::text[]) ${table === 'readings' ? 'AND id < $2' : ''} GROUP BY customer_id`,
          [moved.map((m) => m.customer_id), ...(table === 'readings' ? [DEVICE_FIRST_ID] : [])],
        )
      ).map((r) => [r.customer_id, r.n]),
    );
  const [readingsIn, devicesIn] = [await countIn('readings'), await countIn('devices')];
  const counted = moved.map((m) => ({ customer_id: m.customer_id, readings: readingsIn.get(m.customer_id) ?? '0', devices: devicesIn.get(m.customer_id) ?? '0' }));
  const expectedMoved = Math.ceil(total / 10);
  if (moved.length !== expectedMoved || status.customers?.total !== total) {
    const others = otherOperators();
    throw new Error(
      `the migration says ${status.progress} moved, but the control-plane database of the demo has ${moved.length} of ${total} customers moved ` +
        `(${expectedMoved} expected at this pause)` +
        (others.length > 0
          ? `: another cell-operator runs on this machine and reconciles the same objects if it watches this cluster:\n${others.join('\n')}`
          : `; the operator's log: ${path.relative(root, running.operator!.logFile)}`),
    );
  }
  const mismatched = counted.filter((c) => {
    const expected = rowsOf.get(c.customer_id)!;
    return Number(c.readings) !== expected.readings || Number(c.devices) !== expected.devices;
  });
  const movedRows = counted.reduce((s, c) => s + Number(c.readings) + Number(c.devices), 0);
  say(`${moved.length} of ${total} customers moved to ${MIGRATION_TO} (${status.progress}), ${movedRows} rows with them;`);
  say(
    mismatched.length === 0
      ? `every row inserted for them is in ${MIGRATION_TO}'s database, once (counted per customer)`
      : `ROWS DIFFER for ${mismatched.length} moved customers, e.g. ${JSON.stringify(mismatched.slice(0, 3))}`,
  );
  const delivered = running.traffic && running.brokers ? await checkDeliveries(running.traffic, moved.map((m) => m.customer_id), target, running.brokers) : true;
  const movedSample = moved[0]?.customer_id;
  if (movedSample) {
    const after = await routeOf(routerUrl, movedSample);
    say(`GET /v1/routes/${movedSample} -> ${after.status} cell ${String(after.body.cell)}, epoch ${String(after.body.epoch)}`);
  }
  await cellCountsCaughtUp(kubectl, databases);
  print(indent((await kubectl(['get', 'cells,migrations', '-l', DEMO_SELECTOR])).stdout));
  print(`\nReady after ${elapsed()}: the migration waits at step ${PROMOTION_STEP} (pause: {}) for you to promote it.\n`);
  print(
    nextSteps({
      root,
      kubeconfig: cluster.kubeconfigPath,
      kubectlDir: cluster.binDir,
      pluginDir,
      routerUrl,
      tokenFile: path.relative(root, tokenFile),
      migration: MIGRATION_NAME,
      promotionStep: PROMOTION_STEP,
      sampleCustomer: movedSample ?? sample,
      logs: { operator: running.operator.logFile, router: running.router.logFile },
      targetDatabase: { cell: MIGRATION_TO, port: target.server.port, user: target.username, database: target.database },
      exitAtPause,
      ...(running.dataPath?.gatewayUrl ? { gatewayUrl: running.dataPath.gatewayUrl } : {}),
    }),
  );
  if (mismatched.length > 0 || !delivered) return void (await shutDown(1));
  if (exitAtPause) return void (await shutDown(0));

  // Until Ctrl-C: say so if the operator or the router stops on its own.
  for (;;) {
    await sleep(2000);
    try {
      assertComponentsRunning();
    } catch (error) {
      // On Ctrl-C in a terminal the operator and the router get the SIGINT too, and exit first.
      if (shuttingDown) return;
      print(`\n${error instanceof Error ? error.message : String(error)}`);
      await shutDown(1);
    }
  }
}

main().catch(async (error: unknown) => {
  if (shuttingDown) return;
  print(`\ndemo failed after ${elapsed()}: ${error instanceof Error ? error.message : String(error)}`);
  await shutDown(1);
});
