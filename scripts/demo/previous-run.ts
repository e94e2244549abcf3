// What a previous demo may have left: its record in .local/demo/state.json (its own pid, the pids
// of its operator, router, gateway, ingestion workers and Kafka brokers, the data directories of its PostgreSQL servers) when it was killed
// before it could clean up, and its objects in the cluster. Only what the record or the demo's
// label names is touched: nothing else on the machine or in the cluster is stopped or deleted.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Kubectl } from '../../test/e2e/cluster/crds.js';
import { sleep } from '../../test/e2e/cluster/processes.js';
import type { Say } from './prerequisites.js';

export interface DemoState {
  pid: number;
  operatorPid?: number;
  routerPid?: number;
  /** The gateway and the ingestion workers (src/main.ts processes). */
  dataPathPids?: number[];
  /** The Kafka brokers (java processes). */
  kafkaPids?: number[];
  dataDirs: string[];
}

function commandLine(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

async function stopPid(pid: number, signal: NodeJS.Signals, isOurs: (cmdline: string) => boolean, graceMs = 10_000): Promise<boolean> {
  const cmdline = commandLine(pid);
  if (!cmdline || !isOurs(cmdline)) return false;
  process.kill(pid, signal);
  const deadline = Date.now() + graceMs;
  while (commandLine(pid) !== undefined) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await sleep(100);
    if (Date.now() > deadline + 5000) break;
  }
  return true;
}

/** The record of the demo running now, rewritten whenever something starts. */
export class DemoRecord {
  private state: DemoState = { pid: process.pid, dataDirs: [] };

  constructor(private readonly file: string) {}

  update(change: Partial<DemoState>): void {
    this.state = { ...this.state, ...change };
    writeFileSync(this.file, `${JSON.stringify(this.state, null, 2)}\n`);
  }

  addPid(kind: 'dataPathPids' | 'kafkaPids', pid: number): void {
    this.update({ [kind]: [...(this.state[kind] ?? []), pid] });
  }

  addDataDir(dir: string): void {
    this.update({ dataDirs: [...this.state.dataDirs, dir] });
  }

  remove(): void {
    rmSync(this.file, { force: true });
  }
}

/**
 * Refuses when another demo runs; otherwise stops the processes and removes the databases a
 * killed demo left behind, as its record names them.
 */
export async function cleanUpPreviousRun(file: string, say: Say): Promise<void> {
  if (!existsSync(file)) return;
  let state: DemoState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as DemoState;
  } catch {
    rmSync(file, { force: true });
    return;
  }
  const other = commandLine(state.pid);
  if (state.pid !== process.pid && other && /demo/.test(other)) {
    throw new Error(`another demo is running (pid ${state.pid}): stop it with Ctrl-C in its terminal (or kill ${state.pid}) first`);
  }
  for (const [what, pid] of [['operator', state.operatorPid], ['router', state.routerPid]] as const) {
    if (pid && (await stopPid(pid, 'SIGTERM', (c) => c.includes('src/main.ts')))) say(`stopped the ${what} a previous demo left running (pid ${pid})`);
  }
  for (const pid of state.dataPathPids ?? []) {
    if (await stopPid(pid, 'SIGTERM', (c) => c.includes('src/main.ts'))) say(`stopped a gateway or ingestion worker a previous demo left running (pid ${pid})`);
  }
  for (const pid of state.kafkaPids ?? []) {
    if (await stopPid(pid, 'SIGKILL', (c) => c.includes('kafka.Kafka'))) say(`stopped a Kafka broker a previous demo left running (pid ${pid})`);
  }
  for (const dataDir of state.dataDirs ?? []) {
    const base = path.dirname(dataDir);
    if (!path.basename(base).startsWith('pgtest-')) continue; // not one of startPostgres's directories
    const pidFile = path.join(dataDir, 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
    // SIGQUIT: PostgreSQL's immediate shutdown.
    if (pid > 0 && (await stopPid(pid, 'SIGQUIT', (c) => c.includes('postgres')))) say(`stopped a PostgreSQL server a previous demo left running (pid ${pid})`);
    rmSync(base, { recursive: true, force: true });
  }
  rmSync(file, { force: true });
}

interface Listed {
  items: { metadata: { name: string; labels?: Record<string, string>; finalizers?: string[] } }[];
}

async function list(kubectl: Kubectl, resource: string, selector?: string): Promise<Listed['items']> {
  const result = await kubectl(['get', resource, '-o', 'json', ...(selector ? ['-l', selector] : [])]);
  return (JSON.parse(result.stdout) as Listed).items;
}

/**
 * Objects named like the demo's but not created by it (someone applied examples/cells/ by hand, or
 * a test uses the names): the demo does not delete them, and says how to.
 */
export async function foreignObjects(kubectl: Kubectl, names: { resource: string; names: string[] }[], label: string): Promise<string[]> {
  const found: string[] = [];
  for (const { resource, names: wanted } of names) {
    for (const item of await list(kubectl, resource)) {
      if (wanted.includes(item.metadata.name) && item.metadata.labels?.[label] === undefined) found.push(`${resource}/${item.metadata.name}`);
    }
  }
  return found;
}

/**
 * Deletes every object of `resources` that carries the demo's label, finalizers removed first (no
 * operator of that demo is left to release them), and waits until they are gone.
 */
export async function removeDemoObjects(kubectl: Kubectl, resources: string[], selector: string, say: Say, timeoutMs = 90_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let removed = 0;
  for (const resource of resources) {
    for (let round = 0; ; round++) {
      const items = await list(kubectl, resource, selector);
      if (items.length === 0) break;
      if (round === 0) removed += items.length;
      if (Date.now() > deadline) throw new Error(`could not delete ${items.map((i) => `${resource}/${i.metadata.name}`).join(', ')} within ${timeoutMs / 1000}s`);
      for (const item of items) {
        if (item.metadata.finalizers?.length) {
          await kubectl(['patch', resource, item.metadata.name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
        }
      }
      await kubectl(['delete', resource, ...items.map((i) => i.metadata.name), '--ignore-not-found', '--wait=false'], { allowFailure: true });
      if (round === 0) say(`deleting ${items.length} ${resource}: ${items.map((i) => i.metadata.name).join(', ')}`);
      await sleep(500);
    }
  }
  return removed;
}
