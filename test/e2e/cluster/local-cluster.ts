// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// (fake nodes, pods, volumes) and the Strimzi operators' stand-in (strimzi-stand-in.ts), each its own process,
// built from Go modules by tools/kube-local/build.sh. Used by `npm run cluster:*` and the e2e setup.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  AUDIT_POLICY,
  COMPONENT_NAMES,
  componentSpecs,
  KWOK_NODE_ANNOTATION,
  type ComponentName,
  type ComponentSpec,
  type Ports,
} from './components.js';
import { installStrimziCrds, type Kubectl, type Log } from './crds.js';
import { runKubectl } from './kubectl.js';
import { KWOK_STORAGE_CLASS, writeKwokConfig } from './kwok-config.js';
import { clusterPaths, type ClusterPaths } from './paths.js';
import { ensurePki, issueClientCert, writeKubeconfig, type Pki } from './pki.js';
import {
  freePorts,
  isHealthy,
  isRunning,
  sleep,
  startProcess,
  stopProcess,
  tail,
  type AdminTls,
} from './processes.js';
import { kubeLocalBinDir, kwokModuleDir, requireTool } from './tools.js';

export interface LocalCluster {
  /** Admin kubeconfig (system:masters), `.local/kubeconfig`. */
  kubeconfigPath: string;
  /** The kube-local bin directory (etcd, kube-apiserver, ..., kubectl, kwok). */
  binDir: string;
  kubectl: string;
  server: string;
  /** kube-apiserver's audit log (JSON lines, level Metadata). */
  auditLogPath: string;
  logDir: string;
  stateDir: string;
  nodes: string[];
  /** Whether the Strimzi CRDs and Stages are installed. */
  strimzi: boolean;
  /** True when an already running cluster was reused. */
  reused: boolean;
}

export interface EnsureClusterOptions {
  /**
   * Number of kwok nodes (default 3). 0 starts neither kube-scheduler nor kwok: a cheaper cluster
   * for objects without pods (a second cluster holding a cell with no workloads).
   */
  nodes?: number;
  /** Another cluster than the management one: its state in `.local/<name>/`, on other ports. */
  name?: string;
  log?: Log;
  root?: string;
}

interface StoredComponent extends ComponentSpec {
  pid: number;
}

interface ClusterState {
  version: 1;
  binDir: string;
  server: string;
  ports: Ports;
  nodes: string[];
  strimzi: boolean;
  startedAt: string;
  components: StoredComponent[];
}

export class ComponentStartError extends Error {
  constructor(
    readonly component: ComponentName,
    reason: string,
    readonly logFile: string,
  ) {
    super(`${component} failed to start: ${reason}\n--- last lines of ${logFile} ---\n${tail(logFile)}`);
    this.name = 'ComponentStartError';
  }
}

const defaultLog: Log = (message) => process.stderr.write(`[cluster] ${message}\n`);

function readState(paths: ClusterPaths): ClusterState | undefined {
  if (!existsSync(paths.stateFile)) return undefined;
  try {
    return JSON.parse(readFileSync(paths.stateFile, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function writeState(paths: ClusterPaths, state: ClusterState): void {
  writeFileSync(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

function adminTls(paths: ClusterPaths): AdminTls | undefined {
  const file = (name: string) => path.join(paths.pki, name);
  if (!existsSync(file('admin.crt'))) return undefined;
  return { ca: readFileSync(file('ca.crt')), cert: readFileSync(file('admin.crt')), key: readFileSync(file('admin.key')) };
}

function kubectlFor(binDir: string, kubeconfig: string): Kubectl {
  return (args, options) => runKubectl(path.join(binDir, 'kubectl'), kubeconfig, args, options);
}

function describe(paths: ClusterPaths, state: ClusterState, reused: boolean): LocalCluster {
  return {
    kubeconfigPath: paths.kubeconfig,
    binDir: state.binDir,
    kubectl: path.join(state.binDir, 'kubectl'),
    server: state.server,
    auditLogPath: path.join(paths.logs, 'audit.log'),
    logDir: paths.logs,
    stateDir: paths.state,
    nodes: state.nodes,
    strimzi: state.strimzi,
    reused,
  };
}

/** Serialises cluster:up/down and e2e setups of the same project (a stale lock is taken over). */
async function withLock<T>(paths: ClusterPaths, log: Log, body: () => Promise<T>): Promise<T> {
  mkdirSync(paths.local, { recursive: true });
  let announced = false;
  for (;;) {
    try {
      mkdirSync(paths.lock);
      writeFileSync(path.join(paths.lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSafe(path.join(paths.lock, 'pid')));
      if (!holder || !pidAlive(holder)) {
        rmSync(paths.lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`waiting for process ${holder}, which is starting or stopping the local cluster`);
      announced = true;
      await sleep(500);
    }
  }
  try {
    return await body();
  } finally {
    rmSync(paths.lock, { recursive: true, force: true });
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The components of a recorded cluster that are not running (empty when all are). */
function deadComponents(state: ClusterState): string[] {
  return state.components.filter((c) => !isRunning(c.pid, c.command)).map((c) => c.name);
}

async function waitHealthy(component: StoredComponent, admin: AdminTls | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(component.pid, component.command)) {
      throw new ComponentStartError(component.name, 'the process exited', component.log);
    }
    if (await isHealthy(component.health, admin)) return;
    if (Date.now() > deadline) {
      throw new ComponentStartError(component.name, `${component.health.url} not healthy after ${timeoutMs / 1000}s`, component.log);
    }
    await sleep(250);
  }
}

async function stopComponents(state: ClusterState, log: Log): Promise<void> {
  for (const component of [...state.components].reverse()) {
    if (isRunning(component.pid, component.command)) {
      log(`stopping ${component.name} (pid ${component.pid})`);
      await stopProcess(component.pid, component.command);
    }
  }
}

/**
 * Starts the local control plane, or reuses the running one (all recorded processes alive and the
 * API server ready). The first call builds the binaries (20-40 minutes on 2 cores).
 */
export async function ensureCluster(options: EnsureClusterOptions = {}): Promise<LocalCluster> {
  const paths = clusterPaths(options.root, options.name);
  const log = options.log ?? defaultLog;
  return withLock(paths, log, async () => {
    const existing = readState(paths);
    if (existing) {
      const dead = deadComponents(existing);
      // A cluster recorded before the Strimzi stand-in was a component has nobody writing Strimzi statuses.
      if (existing.strimzi && !existing.components.some((c) => c.name === 'strimzi')) dead.push('strimzi');
      const apiServer = existing.components.find((c) => c.name === 'kube-apiserver');
      if (dead.length === 0 && apiServer && existsSync(paths.kubeconfig) && (await isHealthy(apiServer.health, adminTls(paths)))) {
        log(`reusing the running local cluster at ${existing.server}`);
        return describe(paths, existing, true);
      }
      log(`the recorded local cluster is broken (${dead.length ? `not running: ${dead.join(', ')}` : 'API server not ready'}): starting a new one`);
      await stopComponents(existing, log);
    }
    rmSync(paths.state, { recursive: true, force: true });
    rmSync(paths.kubeconfig, { force: true });
    const started = Date.now();
    const state = await startCluster(paths, options.nodes ?? 3, log);
    log(`local cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return describe(paths, state, false);
  });
}

async function startCluster(paths: ClusterPaths, nodeCount: number, log: Log): Promise<ClusterState> {
  const binDir = await kubeLocalBinDir(paths.root);
  requireTool('openssl');
  for (const dir of [paths.state, paths.logs, paths.etcdData, paths.config]) mkdirSync(dir, { recursive: true, mode: 0o700 });

  const pki = await ensurePki(paths.pki);
  const [etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwok, strimzi] = await freePorts(7);
  const ports: Ports = {
    etcdClient: etcdClient!,
    etcdPeer: etcdPeer!,
    apiServer: apiServer!,
    controllerManager: controllerManager!,
    scheduler: scheduler!,
    kwok: kwok!,
    strimzi: strimzi!,
  };
  const server = `https://127.0.0.1:${ports.apiServer}`;
  const kubeconfigs = {
    controllerManager: path.join(paths.config, 'kube-controller-manager.kubeconfig'),
    scheduler: path.join(paths.config, 'kube-scheduler.kubeconfig'),
    kwok: path.join(paths.config, 'kwok.kubeconfig'),
  };
  await writeUserKubeconfig(pki, server, paths.kubeconfig, 'admin', 'cell-operator-admin', ['system:masters']);
  await writeUserKubeconfig(pki, server, kubeconfigs.controllerManager, 'kube-controller-manager', 'system:kube-controller-manager');
  await writeUserKubeconfig(pki, server, kubeconfigs.scheduler, 'kube-scheduler', 'system:kube-scheduler');
  // kwok patches nodes, pods, volumes, leases and Strimzi statuses: simplest as a cluster admin.
  await writeUserKubeconfig(pki, server, kubeconfigs.kwok, 'kwok', 'kwok-controller', ['system:masters']);
  const auditPolicy = path.join(paths.config, 'audit-policy.yaml');
  writeFileSync(auditPolicy, stringify(AUDIT_POLICY));
  const kwokConfig = path.join(paths.config, 'kwok-stages.yaml');

  const specs = new Map(
    componentSpecs({ binDir, paths, pki, ports, kubeconfigs, auditPolicy, kwokConfig }).map((s) => [s.name, s]),
  );
  const state: ClusterState = {
    version: 1,
    binDir,
    server,
    ports,
    nodes: [],
    strimzi: false,
    startedAt: new Date().toISOString(),
    components: [],
  };
  const admin = adminTls(paths);
  const start = async (name: ComponentName, timeoutMs: number) => {
    const spec = specs.get(name)!;
    log(`starting ${name} (log: ${path.relative(paths.root, spec.log)})`);
    const running: StoredComponent = { ...spec, pid: startProcess(spec).pid };
    state.components.push(running);
    writeState(paths, state);
    await waitHealthy(running, admin, timeoutMs);
  };

  try {
    await start('etcd', 30_000);
    await start('kube-apiserver', 120_000);
    const kubectl = kubectlFor(binDir, paths.kubeconfig);
    const kwokDir = await kwokModuleDir(paths.root);
    await kubectl(['apply', '--server-side', '-f', path.join(kwokDir, KWOK_STORAGE_CLASS)]);
    // kwok resolves the Strimzi kinds once, at start: their CRDs must be served and published first.
    state.strimzi = await installStrimziCrds(kubectl, paths.root, log, { always: true });
    if (state.strimzi) await waitForOpenApi(kubectl, 'kafka.strimzi.io/v1', ['kafkas', 'kafkanodepools', 'kafkatopics', 'kafkausers']);
    writeKwokConfig(kwokConfig, kwokDir);
    await start('kube-controller-manager', 60_000);
    if (nodeCount > 0) {
      await start('kube-scheduler', 60_000);
      await start('kwok', 60_000);
    }
    if (state.strimzi) await start('strimzi', 60_000);
    if (nodeCount > 0) {
      state.nodes = await createNodes(kubectl, nodeCount);
      writeState(paths, state);
      log(`waiting for ${state.nodes.length} kwok nodes to be Ready`);
      await kubectl(['wait', '--for=condition=Ready', '--timeout=90s', ...state.nodes.map((n) => `node/${n}`)]);
    }
    // The service-account controller is up once namespaces get their `default` account.
    await waitUntil(async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default'], { allowFailure: true })).code === 0, 60_000, 'the default service account');
    return state;
  } catch (error) {
    log('start failed: stopping what was started (logs kept in .local/cluster/logs/)');
    await stopComponents(state, log);
    throw error;
  }
}

async function writeUserKubeconfig(pki: Pki, server: string, file: string, name: string, user: string, groups: string[] = []): Promise<void> {
  const client = await issueClientCert(pki, name, user, groups);
  writeKubeconfig(file, server, pki, client, user);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(500);
  }
}

async function waitForOpenApi(kubectl: Kubectl, groupVersion: string, resources: string[]): Promise<void> {
  await waitUntil(
    async () => {
      const result = await kubectl(['get', '--raw', `/openapi/v3/apis/${groupVersion}`], { allowFailure: true });
      return result.code === 0 && resources.every((r) => result.stdout.includes(`/${r}/{name}`));
    },
    60_000,
    `the OpenAPI document of ${groupVersion}`,
  );
}

async function createNodes(kubectl: Kubectl, count: number): Promise<string[]> {
  const zones = ['zone-a', 'zone-b', 'zone-c'];
  const resources = { cpu: '64', memory: '256Gi', pods: '250', 'ephemeral-storage': '1Ti' };
  const nodes = Array.from({ length: count }, (_, i) => {
    const name = `kwok-node-${i}`;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { [KWOK_NODE_ANNOTATION.key]: KWOK_NODE_ANNOTATION.value, 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          type: 'kwok',
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node-role.kubernetes.io/agent': '',
          'topology.kubernetes.io/region': 'local',
          'topology.kubernetes.io/zone': zones[i % zones.length]!,
        },
      },
      // Both addresses, distinct per node: kwok's node-initialize Stage fills in missing ones
      // from its own --node-ip/--node-name, the same for every node (or none).
      status: {
        allocatable: resources,
        capacity: resources,
        addresses: [
          { type: 'InternalIP', address: `10.255.0.${i + 1}` },
          { type: 'Hostname', address: name },
        ],
      },
    };
  });
  await kubectl(['apply', '-f', '-'], { input: nodes.map((n) => stringify(n)).join('---\n') });
  return nodes.map((n) => n.metadata.name);
}

/** Stops every component of the recorded cluster and removes its state and kubeconfig. */
export async function stopCluster(options: { root?: string; log?: Log; name?: string } = {}): Promise<void> {
  const paths = clusterPaths(options.root, options.name);
  const log = options.log ?? defaultLog;
  await withLock(paths, log, async () => {
    const state = readState(paths);
    if (state) await stopComponents(state, log);
    else log('no local cluster is recorded');
    rmSync(paths.state, { recursive: true, force: true });
    rmSync(paths.kubeconfig, { force: true });
  });
}

export interface ComponentStatus {
  name: ComponentName;
  pid: number;
  running: boolean;
  healthy: boolean;
  log: string;
}

export interface ClusterStatus {
  recorded: boolean;
  server?: string;
  kubeconfigPath?: string;
  components: ComponentStatus[];
}

export async function clusterStatus(options: { root?: string; name?: string } = {}): Promise<ClusterStatus> {
  const paths = clusterPaths(options.root, options.name);
  const state = readState(paths);
  if (!state) return { recorded: false, components: [] };
  const admin = adminTls(paths);
  const components = await Promise.all(
    state.components.map(async (c) => {
      const running = isRunning(c.pid, c.command);
      return { name: c.name, pid: c.pid, running, healthy: running && (await isHealthy(c.health, admin)), log: c.log };
    }),
  );
  return { recorded: true, server: state.server, kubeconfigPath: paths.kubeconfig, components };
}

function requireState(paths: ClusterPaths): ClusterState {
  const state = readState(paths);
  if (!state) throw new Error('no local cluster is running (npm run cluster:up)');
  return state;
}

function apiServerOf(state: ClusterState): StoredComponent {
  const component = state.components.find((c) => c.name === 'kube-apiserver');
  if (!component) throw new Error('the recorded local cluster has no kube-apiserver');
  return component;
}

/**
 * Stops kube-apiserver (SIGTERM: graceful; SIGKILL: a crash). The rest keeps running. On SIGTERM
 * it drains requests and stops listening within milliseconds, but its process then lingers up to
 * 60 s in shutdown hooks: it is killed after `graceMs` (default 3 s).
 */
export async function stopApiServer(options: { signal?: NodeJS.Signals; graceMs?: number; root?: string; name?: string } = {}): Promise<void> {
  const paths = clusterPaths(options.root, options.name);
  const apiServer = apiServerOf(requireState(paths));
  await stopProcess(apiServer.pid, apiServer.command, options.signal ?? 'SIGTERM', options.graceMs ?? 3000);
}

/** Starts kube-apiserver again, on the same port and flags, and waits until it is ready. */
export async function startApiServer(options: { root?: string; name?: string } = {}): Promise<void> {
  const paths = clusterPaths(options.root, options.name);
  const state = requireState(paths);
  const apiServer = apiServerOf(state);
  if (isRunning(apiServer.pid, apiServer.command)) return;
  const from = new Date().toISOString();
  for (let attempt = 1; ; attempt++) {
    apiServer.pid = startProcess(apiServer).pid;
    writeState(paths, state);
    try {
      await waitHealthy(apiServer, adminTls(paths), 120_000);
      break;
    } catch (err) {
      // Its port is outside the ephemeral range (test/support/ports.ts), but a port another
      // program holds is still the one failure that waiting cures.
      if (attempt >= 5 || !(err instanceof ComponentStartError) || !/address already in use/.test(err.message)) throw err;
      await sleep(2000);
    }
  }
  const restarts = apiServerRestarts(options);
  writeFileSync(restartsFile(paths), JSON.stringify([...restarts, { from, ready: new Date().toISOString() }]));
}

/** When kube-apiserver was started again: the window from its start until it answered /readyz. */
export interface ApiServerRestart {
  from: string;
  ready: string;
}

const restartsFile = (paths: ClusterPaths) => path.join(paths.state, 'apiserver-restarts.json');

/**
 * The restarts of this cluster's kube-apiserver by `startApiServer`. Until its RBAC caches fill, a
 * fresh kube-apiserver answers 403 to requests it will allow a moment later (the RBAC audit test
 * forgives those).
 */
export function apiServerRestarts(options: { root?: string; name?: string } = {}): ApiServerRestart[] {
  const file = restartsFile(clusterPaths(options.root, options.name));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ApiServerRestart[]) : [];
}

/** Restarts kube-apiserver, down for at least `downtimeMs`; etcd keeps the data. */
export async function restartApiServer(
  options: { signal?: NodeJS.Signals; graceMs?: number; downtimeMs?: number; root?: string; name?: string } = {},
): Promise<void> {
  await stopApiServer(options);
  if (options.downtimeMs) await sleep(options.downtimeMs);
  await startApiServer(options);
}

/**
 * A kubeconfig for another identity of the running local cluster (a client certificate: CN is the
 * user, O the groups), e.g. the operator's service account `system:serviceaccount:<ns>:<name>`
 * with group `system:serviceaccounts`, to test it with its own RBAC roles.
 */
export async function issueKubeconfig(name: string, user: string, groups: string[] = [], options: { root?: string; cluster?: string } = {}): Promise<string> {
  const paths = clusterPaths(options.root, options.cluster);
  const state = requireState(paths);
  const pki = await ensurePki(paths.pki);
  const file = path.join(paths.config, `${name}.kubeconfig`);
  await writeUserKubeconfig(pki, state.server, file, name, user, groups);
  return file;
}

export { COMPONENT_NAMES };
