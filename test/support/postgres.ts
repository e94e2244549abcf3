// Throw-away PostgreSQL servers for tests and benchmarks: initdb into a temp dir, pg_ctl start on
// a free 127.0.0.1 port, trust auth, removed by stop(). Works as root (runs the server as an
// unprivileged user, since postgres refuses root) and as an ordinary user.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

export interface StartPostgresOptions {
  /** wal_level=logical (for logical replication tests). Default false (wal_level=replica). */
  logical?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /** Superuser name created by initdb. Default `postgres`. */
  user?: string;
  /**
   * Serve TLS with a throw-away CA (needs openssl): the server certificate names `localhost`
   * only, so a client checking host names must connect to `localhost`, not 127.0.0.1.
   */
  tls?: boolean;
  /**
   * Which TCP connections pg_hba.conf accepts (trust auth): `hostssl` only TLS ones, `hostnossl`
   * only plain-text ones. Default: both.
   */
  hba?: 'hostssl' | 'hostnossl';
  /** Serve TLS with this certificate and key (PEM) instead of openssl-made ones; `ca` becomes caFile. */
  certificate?: { cert: string; key: string; ca: string };
  /** The directory of initdb/pg_ctl/postgres (a Citus prefix: test/support/citus.ts); default findPostgresBinDir(). */
  binDir?: string;
}

export interface PostgresServer {
  /** `postgres://user@127.0.0.1:port/postgres` (trust auth: no password). */
  url: string;
  host: string;
  port: number;
  user: string;
  database: string;
  dataDir: string;
  /** Stops the server (if running) and deletes its files. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server but keeps its data, to simulate an outage. `immediate` is a crash. */
  halt(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts a halted server again on the same port with the same data. */
  resume(): Promise<void>;
  /** halt + resume. */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** With `tls`: the PEM file of the CA that signed the server certificate. */
  caFile?: string;
  /** Creates a new empty database (for isolation between tests) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** The server log so far (for failure messages). */
  log(): string;
}

/** The directory holding initdb/pg_ctl: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBinDir(): string {
  const fromEnv = process.env.PG_BIN_DIR;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  } catch {
    // no pg_config on PATH: fall through to the Debian layout
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = join(root, v, 'bin');
      if (existsSync(join(dir, 'initdb'))) return dir;
    }
  }
  throw new Error('PostgreSQL server binaries not found: install postgresql or set PG_BIN_DIR');
}

interface RunAs {
  /** Prefix for commands, e.g. ['runuser', '-u', 'postgres', '--']; empty when not root. */
  prefix: string[];
  uid: number;
  gid: number;
}

function unprivilegedUser(): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { prefix: [], uid: -1, gid: -1 };
  for (const name of ['postgres', 'nobody']) {
    const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (id.status !== 0 || gid.status !== 0) continue;
    const uid = Number(id.stdout.trim());
    const g = Number(gid.stdout.trim());
    if (existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser') || existsSync('/usr/bin/runuser')) {
      return { prefix: ['runuser', '-u', name, '--'], uid, gid: g };
    }
    return { prefix: ['setpriv', `--reuid=${uid}`, `--regid=${g}`, '--clear-groups', '--'], uid, gid: g };
  }
  throw new Error('running as root and found no unprivileged user (postgres, nobody) to run PostgreSQL as');
}

const running = new Set<{ pgCtl: string; dataDir: string; prefix: string[] }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test forgets stop() or the process dies: never leave a server behind.
  process.on('exit', () => {
    for (const s of running) {
      const [cmd, ...args] = [...s.prefix, s.pgCtl, 'stop', '-D', s.dataDir, '-m', 'immediate', '-w'];
      spawnSync(cmd as string, args, { stdio: 'ignore' });
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });
}

async function exec(prefix: string[], cmd: string, args: string[]): Promise<void> {
  const [first, ...rest] = [...prefix, cmd, ...args];
  await run(first as string, rest, { maxBuffer: 16 * 1024 * 1024 });
}

/** A CA and a server certificate for `localhost` in dir; the key readable by the server only. */
async function makeCertificates(dir: string, as: RunAs): Promise<string> {
  const f = (name: string): string => join(dir, name);
  writeFileSync(f('san.ext'), 'subjectAltName=DNS:localhost\n');
  await exec([], 'openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=cell-operator test CA']);
  await exec([], 'openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  await exec([], 'openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('san.ext')]);
  chmodSync(f('server.key'), 0o600);
  if (as.uid >= 0) {
    chownSync(f('server.key'), as.uid, as.gid);
    chownSync(f('server.crt'), as.uid, as.gid);
  }
  return f('ca.crt');
}

/** A throw-away CA of its own (PEM), which signed none of the servers: a "wrong CA" for tests. */
export async function makeUnrelatedCa(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pgtest-ca-'));
  try {
    await exec([], 'openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '2', '-subj', '/CN=an unrelated CA']);
    return readFileSync(join(dir, 'ca.crt'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a new PostgreSQL server in a temp dir; `stop()` removes it. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = options.binDir ?? findPostgresBinDir();
  const initdb = join(bin, 'initdb');
  const pgCtl = join(bin, 'pg_ctl');
  const as = unprivilegedUser();
  const user = options.user ?? 'postgres';

  const base = mkdtempSync(join(tmpdir(), 'pgtest-'));
  if (as.uid >= 0) chownSync(base, as.uid, as.gid);
  const dataDir = join(base, 'data');
  const logFile = join(base, 'server.log');
  installExitHook();

  try {
    await exec(as.prefix, initdb, ['-D', dataDir, '-U', user, '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }

  if (options.hba) {
    const hba = join(dataDir, 'pg_hba.conf');
    writeFileSync(hba, ['local all all trust', `${options.hba} all all 127.0.0.1/32 trust`, `${options.hba} all all ::1/128 trust`, ''].join('\n'));
    if (as.uid >= 0) chownSync(hba, as.uid, as.gid);
  }

  let caFile: string | undefined;
  if (options.certificate) {
    for (const [file, text] of [['server.crt', options.certificate.cert], ['server.key', options.certificate.key], ['ca.crt', options.certificate.ca]] as const) {
      writeFileSync(join(base, file), text, { mode: 0o600 });
      if (as.uid >= 0) chownSync(join(base, file), as.uid, as.gid);
    }
    caFile = join(base, 'ca.crt');
  } else if (options.tls) {
    try {
      caFile = await makeCertificates(base, as);
    } catch (err) {
      rmSync(base, { recursive: true, force: true });
      throw new Error(`creating test certificates failed (is openssl installed?): ${String(err)}`);
    }
  }

  const settings: Record<string, string | number> = {
    ...(caFile ? { ssl: 'on', ssl_cert_file: join(base, 'server.crt'), ssl_key_file: join(base, 'server.key') } : {}),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: base,
    // fsync off is safe (the OS does not crash under a test); synchronous_commit stays on so a
    // crash (`halt('immediate')`) never loses an acknowledged commit.
    fsync: 'off',
    full_page_writes: 'off',
    wal_level: options.logical ? 'logical' : 'replica',
    max_connections: 200,
    ...options.settings,
  };
  const handle = { pgCtl, dataDir, prefix: as.prefix };
  let port = 0;
  let isRunning = false;

  const startOn = async (p: number): Promise<void> => {
    const opts = Object.entries({ ...settings, port: p })
      .map(([k, v]) => `-c ${k}=${String(v)}`)
      .join(' ');
    await exec(as.prefix, pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', opts]);
    isRunning = true;
    running.add(handle);
  };

  let lastError: unknown;
  for (let attempt = 0; attempt < 5 && !isRunning; attempt++) {
    port = await freePort();
    try {
      await startOn(port);
    } catch (err) {
      lastError = err; // most likely the port was taken between freePort() and the bind
    }
  }
  if (!isRunning) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    rmSync(base, { recursive: true, force: true });
    throw new Error(`pg_ctl start failed: ${String(lastError)}\n${log}`);
  }

  const halt = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    if (!isRunning) return;
    await exec(as.prefix, pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60']);
    isRunning = false;
    running.delete(handle);
  };
  const resume = async (): Promise<void> => {
    if (isRunning) return;
    await startOn(port);
  };
  let removed = false;
  let databases = 0;
  const urlOf = (db: string) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${db}`;

  return {
    url: urlOf('postgres'),
    host: '127.0.0.1',
    port,
    user,
    database: 'postgres',
    dataDir,
    caFile,
    halt,
    resume,
    async restart(mode = 'fast') {
      await halt(mode);
      await resume();
    },
    async stop() {
      if (removed) return;
      try {
        await halt('immediate');
      } finally {
        removed = true;
        rmSync(base, { recursive: true, force: true });
      }
    },
    async createDatabase(name) {
      const db = name ?? `test_${++databases}`;
      if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`database name ${db} must be a plain lowercase identifier`);
      const psql = join(bin, 'psql');
      await exec([], psql, ['-X', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'postgres', '-c', `CREATE DATABASE "${db}"`]);
      return urlOf(db);
    },
    log() {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    },
  };
}

/**
 * One throw-away server for the tests of a file: started before them, stopped after. Call the
 * returned function inside a test or hook for the server.
 */
export function usePostgres(options: StartPostgresOptions = {}): () => PostgresServer {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    server = await startPostgres(options);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the PostgreSQL server is not started yet: use it inside a test or a hook');
    return server;
  };
}
