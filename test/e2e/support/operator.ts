// Runs cell-operator as a child process against the e2e cluster, its output in a log file, and
// stops it gracefully (SIGTERM) or as a crash (SIGKILL). Several can run at once (leader election).
// It runs from source with `node --import tsx src/main.ts`: one process (so that SIGKILL really
// kills the operator) and no stale dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from '../cluster/processes.js';
import { projectRoot } from '../cluster/paths.js';
import { e2eEnv, WaitAborted, waitFor } from './kube.js';

export interface OperatorOptions {
  /** This replica's identity in the Lease, also the log file's name (default `operator-<n>`). */
  name?: string;
  /** Default: the operator's ServiceAccount token, so it runs with exactly config/rbac's grants. */
  kubeconfig?: string;
  leaderElect?: boolean;
  leaseName?: string;
  leaseNamespace?: string;
  leaseDurationSeconds?: number;
  databaseUrl?: string;
  /**
   * --allowed-namespaces. Default `*`: the other e2e tests keep their Secrets in namespaces of
   * their own; cell-policy.test.ts proves the policy with an allowlist of its own.
   */
  allowedNamespaces?: string;
  logLevel?: string;
  /** More flags for `cell-operator operator`. */
  args?: string[];
  env?: Record<string, string>;
}

export interface OperatorProcess {
  name: string;
  pid: number;
  /** Port of /healthz, /readyz and /metrics. */
  httpPort: number;
  logFile: string;
  /** Everything the operator has written so far (stdout and stderr). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until the output matches `pattern`; returns the matching line. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Waits until GET /readyz answers 200. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** GET a path of the operator's HTTP port (/metrics, /healthz, /readyz). */
  get(pathname: string): Promise<{ status: number; body: string }>;
}

const running = new Set<ChildProcess>();
let counter = 0;

// A test that fails before its cleanup must not leave operators behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function httpGet(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function startOperator(options: OperatorOptions = {}): Promise<OperatorProcess> {
  const env = e2eEnv();
  const root = projectRoot();
  counter += 1;
  const name = options.name ?? `operator-${counter}`;
  const httpPort = await freePort();
  const logDir = path.join(env.artifactsDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}-${Date.now()}.log`);
  const flags = [
    `--kubeconfig=${options.kubeconfig ?? env.operatorKubeconfig}`,
    `--http-port=${httpPort}`,
    `--identity=${name}`,
    `--log-level=${options.logLevel ?? 'debug'}`,
    ...(options.leaderElect === undefined ? [] : [`--leader-elect=${options.leaderElect}`]),
    ...(options.leaseName ? [`--lease-name=${options.leaseName}`] : []),
    ...(options.leaseNamespace ? [`--lease-namespace=${options.leaseNamespace}`] : []),
    ...(options.leaseDurationSeconds ? [`--lease-duration=${options.leaseDurationSeconds}`] : []),
    ...(options.databaseUrl ? [`--database-url=${options.databaseUrl}`] : []),
    `--allowed-namespaces=${options.allowedNamespaces ?? '*'}`,
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), 'operator', ...flags], {
    cwd: root,
    // The kwok-played Kafka clusters have no brokers: no Kafka drain unless a test brings real ones.
    env: { ...process.env, NODE_OPTIONS: '', KAFKA_DRAIN: 'false', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`operator ${name} did not start`);
  running.add(child);
  const log = createWriteStream(logFile);
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    log.write(chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      log.end();
      resolve({ code, signal });
    });
  });
  let done = false;
  void exited.then(() => (done = true));

  const handle: OperatorProcess = {
    name,
    pid: child.pid,
    httpPort,
    logFile,
    output: () => output,
    exited,
    isRunning: () => !done,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (done) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async waitForOutput(pattern, timeoutMs = 30_000) {
      return waitFor(
        () => {
          const line = output.split('\n').find((l) => pattern.test(l));
          if (!line && done) throw new WaitAborted(`operator ${name} exited before logging ${pattern}; its log: ${logFile}\n${output.slice(-2000)}`);
          return line;
        },
        { timeoutMs, description: `operator ${name} to log ${pattern}` },
      );
    },
    async waitReady(timeoutMs = 90_000) {
      try {
        await waitFor(
          async () => {
            if (done) throw new WaitAborted(`operator ${name} exited before it was ready; its log: ${logFile}\n${output.slice(-2000)}`);
            return (await httpGet(httpPort, '/readyz')).status === 200;
          },
          { timeoutMs, description: `operator ${name} to be ready` },
        );
      } catch (err) {
        // A test whose setup fails here never reaches the stop in its afterAll (the world it was
        // building is undefined there): without this, the operator outlives the test run.
        child.kill('SIGKILL');
        throw err;
      }
    },
    get: (pathname) => httpGet(httpPort, pathname),
  };
  return handle;
}

/** Stops every operator started by this test file (for afterAll/afterEach). */
export async function stopAllOperators(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill(signal);
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
}
