// Real Apache Kafka brokers for tests, the local cluster and the demo: one single-node KRaft
// server (combined broker + controller) per cell, from the jars tools/kafka/resolve.sh caches,
// as a local process on free 127.0.0.1 ports, with its data and log under the project's .local/.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

export const DEFAULT_KAFKA_VERSION = '4.1.1';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StartKafkaOptions {
  /** A label for the directory and the log (a cell name). */
  name?: string;
  version?: string;
  /** Where data and log go. Default `.local/kafka/<name>-<port>` of the project. */
  dir?: string;
  /** Default partitions of auto-created topics and of KafkaTopic-less tests. */
  partitions?: number;
  /** JVM heap, e.g. `384m` (the default). */
  heap?: string;
  /** Run in its own process group, outliving the starter (cluster:up, the demo). Default false. */
  detached?: boolean;
  /** Extra server.properties entries. */
  properties?: Record<string, string | number | boolean>;
}

export interface KafkaBroker {
  name: string;
  /** `127.0.0.1:<port>`: the PLAINTEXT listener, what Strimzi's `listeners[].bootstrapServers` would say. */
  bootstrap: string;
  port: number;
  controllerPort: number;
  pid: number;
  dir: string;
  logFile: string;
  /** SIGTERM, wait for the exit (SIGKILL after 15 s), and delete the data unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL: a crash. The data stays; `restart()` brings it back on the same ports. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  log(): string;
}

/** The directory of the cached jars for `version`, resolving them from Maven Central if needed. */
export async function kafkaLibs(version: string = process.env.KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION): Promise<string> {
  const cache = process.env.CELL_OPERATOR_CACHE ?? path.join(process.env.HOME ?? '/tmp', '.cache', 'cell-operator');
  const libs = path.join(cache, 'kafka', version, 'libs');
  if (existsSync(path.join(cache, 'kafka', version, '.complete'))) return libs;
  try {
    const { stdout } = await run('bash', [path.join(ROOT, 'tools', 'kafka', 'resolve.sh'), version], { maxBuffer: 16 * 1024 * 1024 });
    return path.join(stdout.trim(), 'libs');
  } catch (err) {
    throw new Error(`resolving Apache Kafka ${version} failed (tools/kafka/resolve.sh): ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
}

/** A KRaft cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` prints); it may start with "-", so it is passed as --cluster-id=<id>. */
function clusterId(): string {
  return randomBytes(16).toString('base64url');
}

const LOG4J2 = `rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.org.name=org.apache.kafka
logger.org.level=WARN
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
`;

function serverProperties(o: { dataDir: string; port: number; controllerPort: number; partitions: number; extra: Record<string, string | number | boolean> }): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    listeners: `PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.quorum.bootstrap.servers': `127.0.0.1:${o.controllerPort}`,
    'log.dirs': o.dataDir,
    'num.partitions': o.partitions,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 3,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // Topics exist because a KafkaTopic (or a test) made them, as with Strimzi's topic operator.
    'auto.create.topics.enable': false,
    'log.flush.interval.messages': Number.MAX_SAFE_INTEGER,
    ...o.extra,
  };
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('\n')}\n`;
}

const live = new Set<ChildProcess>();
let exitHook = false;
function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHook) return;
  exitHook = true;
  // A test that forgets stop() must not leave a JVM behind.
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/ Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ' '));
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Formats (first start only) and starts a single-node KRaft broker; resolves once it serves. */
/**
 * Starts a broker. The ports are free when chosen but not held: another process (a parallel test's
 * broker or database) may take one before Kafka binds it. Then the broker exits with a
 * BindException and starts again on other ports, at most three times.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startKafkaOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/BindException|Address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startKafkaOnce(options: StartKafkaOptions): Promise<KafkaBroker> {
  const libs = await kafkaLibs(options.version);
  const classpath = `${libs}/*`;
  const name = options.name ?? 'kafka';
  const [port, controllerPort] = [await freePort(), await freePort()];
  const dir = options.dir ?? path.join(ROOT, '.local', 'kafka', `${name}-${port}`);
  const dataDir = path.join(dir, 'data');
  const configFile = path.join(dir, 'server.properties');
  const log4j = path.join(dir, 'log4j2.properties');
  const logFile = path.join(dir, 'server.log');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(configFile, serverProperties({ dataDir, port, controllerPort, partitions: options.partitions ?? 3, extra: options.properties ?? {} }));
  writeFileSync(log4j, LOG4J2);
  const jvm = [`-Xmx${options.heap ?? '384m'}`, '-Xms64m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4j}`];
  try {
    await run('java', [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '--standalone', `--cluster-id=${clusterId()}`, '-c', configFile], { maxBuffer: 4 * 1024 * 1024 });
  } catch (err) {
    throw new Error(`formatting the Kafka storage in ${dataDir} failed: ${(err as { stderr?: string; stdout?: string }).stderr ?? String(err)}`);
  }

  let child: ChildProcess | undefined;
  let pid = 0;
  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    try {
      child = spawn('java', [...jvm, '-cp', classpath, 'kafka.Kafka', configFile], { detached: options.detached ?? false, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error('java did not start (is Java >= 17 on PATH?)');
    pid = child.pid;
    if (options.detached) child.unref();
    else killOnExit(child);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (readLog().includes('Kafka Server started')) return;
      if (!isAlive(pid)) throw new Error(`Kafka ${name} exited while starting; the end of ${logFile}:\n${readLog().slice(-4000)}`);
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        throw new Error(`Kafka ${name} did not start within 90 s; the end of ${logFile}:\n${readLog().slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const readLog = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await launch();

  let stopped = false;
  const broker: KafkaBroker = {
    name,
    bootstrap: `127.0.0.1:${port}`,
    port,
    controllerPort,
    get pid() {
      return pid;
    },
    dir,
    logFile,
    async stop({ keepData = false } = {}) {
      if (!stopped && isAlive(pid)) {
        process.kill(pid, 'SIGTERM');
        if (!(await waitGone(pid, 15_000))) {
          process.kill(pid, 'SIGKILL');
          await waitGone(pid, 5_000);
        }
      }
      stopped = true;
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
    },
    async restart() {
      await broker.kill();
      writeFileSync(logFile, ''); // the readiness line of the earlier run must not count
      await launch();
      stopped = false;
    },
    log: readLog,
  };
  return broker;
}

/** Creates a topic (idempotent: an existing one is left alone) and waits for its leaders. */
export async function createTopic(bootstrap: string, topic: string, partitions: number): Promise<void> {
  const { default: kafkajs } = await import('kafkajs');
  const kafka = new kafkajs.Kafka({ clientId: 'test-admin', brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Stops a broker started detached by another process (cluster:down), by pid, if it still runs java. */
export async function stopKafkaByPid(pid: number): Promise<void> {
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmd.includes('kafka.Kafka')) return; // a recycled pid is not ours
  process.kill(pid, 'SIGTERM');
  if (!(await waitGone(pid, 15_000))) process.kill(pid, 'SIGKILL');
}
