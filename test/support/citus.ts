// Throw-away Citus clusters for tests, benchmarks and the demo: a coordinator and workers, each a
// real PostgreSQL server (test/support/postgres.ts) started from the Citus prefix that
// tools/citus/build.sh builds and caches, with shared_preload_libraries=citus and the extension
// created. The workers are not registered: that is the operator's job (or registerWorkers()).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres, type PostgresServer, type StartPostgresOptions } from './postgres.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

let binDir: string | undefined;

/**
 * The bin directory of the Citus prefix: $CITUS_BIN_DIR, else tools/citus/build.sh's cached
 * build (built on first use: minutes). As root the servers run as an unprivileged user that cannot
 * read root's home, so the prefix is mirrored (hard links) under the temp directory.
 */
export function citusBinDir(): string {
  if (binDir) return binDir;
  const fromEnv = process.env.CITUS_BIN_DIR;
  if (fromEnv && existsSync(join(fromEnv, 'postgres'))) return (binDir = fromEnv);
  const out = execFileSync('bash', [join(REPO_ROOT, 'tools/citus/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
  const built = out.trim().split('\n').pop() ?? '';
  if (!existsSync(join(built, 'postgres'))) throw new Error(`tools/citus/build.sh printed no usable bin directory (${built})`);
  binDir = typeof process.getuid === 'function' && process.getuid() === 0 ? mirrorForServers(built) : built;
  return binDir;
}

/** `<cache>/citus/<key>/prefix/lib/postgresql/15/bin` -> the same tree under `<tmp>/cell-operator-citus/<key>`. */
function mirrorForServers(bin: string): string {
  const prefix = bin.slice(0, bin.indexOf('/prefix/') + '/prefix'.length);
  const build = dirname(prefix);
  const target = join(tmpdir(), 'cell-operator-citus', basename(build));
  const mirroredBin = join(target, bin.slice(build.length));
  if (existsSync(join(target, '.complete'))) return mirroredBin;
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  const tmp = `${target}.tmp.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    execFileSync('cp', ['-al', build, tmp]);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
    execFileSync('cp', ['-a', build, tmp]); // another filesystem: a copy
  }
  try {
    renameSync(tmp, target);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process mirrored it first
  }
  return mirroredBin;
}

export interface CitusCluster {
  coordinator: PostgresServer;
  workers: PostgresServer[];
  /** The coordinator's `postgres` database. */
  url: string;
  /** Starts one more worker (extension created in every database made by createDatabase). */
  addWorker(): Promise<PostgresServer>;
  /** A new database on every node with the citus extension; returns the coordinator's URL of it. */
  createDatabase(name?: string): Promise<string>;
  /** Registers the coordinator and every worker in a database of the coordinator (citus_add_node). */
  registerWorkers(url?: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartCitusOptions {
  /** Workers to start. Default 2. */
  workers?: number;
  settings?: StartPostgresOptions['settings'];
  /** Every node serves TLS with this certificate (test/support/postgres.ts). */
  certificate?: StartPostgresOptions['certificate'];
}

async function sql(url: string, text: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

const withDatabase = (url: string, db: string): string => url.replace(/\/[^/]*$/, `/${db}`);

/** A coordinator and `workers` workers, the citus extension created on each, none registered. */
export async function startCitus(options: StartCitusOptions = {}): Promise<CitusCluster> {
  const bin = citusBinDir();
  const settings = {
    shared_preload_libraries: 'citus',
    // The background rebalancer picks up a job within this time (default 5 s).
    'citus.background_task_queue_interval': '500ms',
    ...options.settings,
  };
  const startNode = async (): Promise<PostgresServer> => {
    const server = await startPostgres({ binDir: bin, settings, ...(options.certificate ? { certificate: options.certificate } : {}) });
    await sql(server.url, 'CREATE EXTENSION IF NOT EXISTS citus');
    return server;
  };
  const nodes = await Promise.all(Array.from({ length: (options.workers ?? 2) + 1 }, startNode));
  const [coordinator, ...workers] = nodes as [PostgresServer, ...PostgresServer[]];
  const databases: string[] = [];
  let databaseCount = 0;

  const cluster: CitusCluster = {
    coordinator,
    workers,
    url: coordinator.url,
    async addWorker() {
      const worker = await startNode();
      for (const db of databases) {
        await worker.createDatabase(db);
        await sql(withDatabase(worker.url, db), 'CREATE EXTENSION IF NOT EXISTS citus');
      }
      workers.push(worker);
      return worker;
    },
    async createDatabase(name) {
      const db = name ?? `citus_${++databaseCount}`;
      for (const node of [coordinator, ...workers]) {
        await node.createDatabase(db);
        await sql(withDatabase(node.url, db), 'CREATE EXTENSION IF NOT EXISTS citus');
      }
      databases.push(db);
      return withDatabase(coordinator.url, db);
    },
    async registerWorkers(url = coordinator.url) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('SELECT citus_set_coordinator_host($1, $2)', [coordinator.host, coordinator.port]);
        for (const w of workers) await client.query('SELECT citus_add_node($1, $2)', [w.host, w.port]);
      } finally {
        await client.end();
      }
    },
    async stop() {
      await Promise.all([coordinator, ...workers].map((n) => n.stop()));
    },
  };
  return cluster;
}
