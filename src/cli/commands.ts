// Runs one `kubectl cells` command: reads through CellsApi or the router, renders with the pure
// renderers, writes, and returns the exit code. Everything outside (streams, clock, API, fetch)
// comes in through CliIo.
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { PACKAGE_VERSION } from '../version.js';
import { cordonPatch, drainMigration, drainProblem, uncordonPatch } from './cell-patches.js';
import type { CellVerb, Command, Options } from './command-line.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { carryOut } from './decision.js';
import { notSettled } from './status-wait.js';
import { CliError, type CellsApi } from './cells-api.js';
import { renderMigrationsTable, renderStatus } from './cells-status.js';
import { expectedChildren, renderCellTree, type ObservedChild } from './cell-tree.js';
import { abortPatch, abortWarning, pausePatch, promotePatch, resumePatch, retryPatch, type PatchDecision } from './migration-patches.js';
import { renderMigrationBlock, renderMigrationLine, watchEnd } from './migration-progress.js';
import type { ObservedCell, ObservedMigration } from './observed.js';
import { approvePatch, renderPolicies } from './rebalance-view.js';
import { runRelease } from './release-commands.js';
import { renderRouteAnswer, renderRouterUnreachable } from './route-answer.js';
import { fitWidth } from './text-table.js';

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  stdin: NodeJS.ReadableStream;
  now(): Date;
  /** The API, created on first use (so that `route` needs no kubeconfig). */
  api(): CellsApi;
  fetch: typeof fetch;
  /** Aborted on Ctrl-C: a watch stops cleanly. */
  signal: AbortSignal;
  /** Cells and Migrations followed through the API server's watch (status --timeout). */
  watchFleet?(): FleetWatch;
  /** A Cell and its children followed through the API server's watch (get --watch). */
  watchCell?(cell: string, children: readonly ObservedChild[]): CellWatch;
}

/** One cell and its children kept by watches. */
export interface CellWatch {
  /** The cell as cached now (undefined once deleted), and each expected child with its object. */
  current(): { cell: ObservedCell | undefined; children: ObservedChild[] };
  synced: Promise<void>;
  onChange(listener: () => void): void;
  stop(): Promise<void>;
}

/** The plugin's view of the fleet kept by watches: what is cached now, and a call on each change. */
export interface FleetWatch {
  cells(): ObservedCell[];
  migrations(): ObservedMigration[];
  /** Resolves once both lists are loaded. */
  synced: Promise<void>;
  onChange(listener: () => void): void;
  stop(): Promise<void>;
}

const ANSI = { hideCursor: '\x1b[?25l', showCursor: '\x1b[?25h', clearToEnd: '\x1b[J', up: (n: number) => `\x1b[${n}A\r` } as const;

export async function runCommand(command: Command, options: Options, io: CliIo): Promise<number> {
  try {
    switch (command.name) {
      case 'status':
        return await status(options, io);
      case 'route':
        return await route(command.customer, options.routerUrl ?? '', io);
      case 'cell':
        return await cellCommand(command.verb, command.cell, options, io);
      case 'version':
        return printed(options, { plugin: 'kubectl-cells', version: PACKAGE_VERSION, node: process.version }, `kubectl-cells ${PACKAGE_VERSION} (node ${process.version})\n`, io);
      case 'completion':
        io.stdout.write(command.shell === 'bash' ? bashCompletion() : zshCompletion());
        return 0;
      case 'rebalance':
        return await rebalance(command.verb, command.policy, options, io);
      case 'migration':
        if (command.verb === 'watch') return await watch(command.migration, options.intervalSeconds * 1000, io);
        return await steer(command.verb, command.migration, options, io);
      case 'release':
        return await runRelease(command.verb, command.release, options, io, (prompt) => readAnswer(io, prompt));
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function status(options: Options, io: CliIo): Promise<number> {
  if (options.timeoutSeconds !== undefined && io.watchFleet) return waitSettled(options.timeoutSeconds, options, io, io.watchFleet());
  const api = io.api();
  const [cells, migrations] = await Promise.all([api.listCells(), api.listMigrations()]);
  if (options.output) return printed(options, { cells, migrations }, '', io);
  io.stdout.write(renderStatus(cells, migrations));
  return 0;
}

/** status --timeout: follows the watch until nothing is left to wait for, or the time is up. */
async function waitSettled(timeoutSeconds: number, options: Options, io: CliIo, fleet: FleetWatch): Promise<number> {
  try {
    const settled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutSeconds * 1000);
      let loaded = false;
      const check = () => {
        if (loaded && notSettled(fleet.cells(), fleet.migrations()).length === 0) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      fleet.onChange(check);
      io.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(false);
      });
      void fleet.synced.then(() => {
        loaded = true;
        check();
      });
    });
    const cells = fleet.cells();
    const migrations = fleet.migrations();
    if (options.output) printed(options, { cells, migrations }, '', io);
    else io.stdout.write(renderStatus(cells, migrations));
    if (settled) return 0;
    io.stderr.write(`error: not settled after ${timeoutSeconds}s: ${notSettled(cells, migrations).join('; ') || 'the cells and migrations could not be read'}\n`);
    return 1;
  } finally {
    await fleet.stop();
  }
}

/** `rebalance status [POLICY]` and `rebalance approve POLICY`. */
async function rebalance(verb: 'status' | 'approve', name: string | undefined, options: Options, io: CliIo): Promise<number> {
  const api = io.api();
  if (verb === 'status') {
    const policies = name ? [await api.getPolicy(name)] : await api.listPolicies();
    return printed(options, name ? policies[0] : policies, renderPolicies(policies), io);
  }
  return carryOut(approvePatch(await api.getPolicy(name ?? ''), options.proposal), io, (patch) => api.patchPolicy(name ?? '', patch));
}

/** -o json|yaml: the objects as read; otherwise `text`. */
function printed(options: Options, value: unknown, text: string, io: CliIo): number {
  if (options.output === 'json') io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (options.output === 'yaml') io.stdout.write(stringify(value));
  else io.stdout.write(text);
  return 0;
}

async function cellCommand(verb: CellVerb, name: string, options: Options, io: CliIo): Promise<number> {
  const api = io.api();
  const cell = await api.getCell(name);
  if (verb === 'get') {
    if (options.output) return printed(options, cell, '', io);
    const expected = expectedChildren(cell);
    if ('problem' in expected) {
      io.stdout.write(renderStatus([cell], []));
      throw new CliError(`cannot tell the children of cell ${name}: ${expected.problem}`);
    }
    if (options.watch && io.watchCell) return await watchTree(name, io, io.watchCell(name, expected.children));
    const [children, migrations] = await Promise.all([
      Promise.all(expected.children.map(async (c) => ({ ...c, object: await api.findChild(c.kind, c.name, c.namespace) }))),
      api.listMigrations(),
    ]);
    const related = migrations.filter((m) => m.spec?.from === name || m.spec?.to === name);
    const lines = renderCellTree(cell, children);
    if (related.length > 0) lines.push('', ...renderMigrationsTable(related));
    io.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
  if (verb === 'drain') {
    const to = options.to ?? '';
    const problem = drainProblem(cell, await api.findCell(to), to);
    if (problem) {
      io.stderr.write(`error: ${problem}\n`);
      return 1;
    }
    const created = await api.createMigration(drainMigration(name, to));
    if (options.output) return printed(options, created, '', io);
    io.stdout.write(`migration ${created.metadata.name} created: every customer of ${name} moves to ${to}, canary first; ${name} is cordoned meanwhile. Follow it with: kubectl cells migration watch ${created.metadata.name}\n`);
    return 0;
  }
  return carryOut(verb === 'cordon' ? cordonPatch(cell) : uncordonPatch(cell), io, (patch) => api.patchCell(name, patch));
}

const DECIDE: Record<'promote' | 'pause' | 'resume' | 'abort' | 'retry', (m: ObservedMigration, options: Options, now: Date) => PatchDecision> = {
  promote: promotePatch,
  pause: pausePatch,
  resume: resumePatch,
  abort: abortPatch,
  retry: (m, options, now) => retryPatch(m, now, options.customers),
};

async function steer(verb: 'promote' | 'pause' | 'resume' | 'abort' | 'retry', name: string, options: Options, io: CliIo): Promise<number> {
  const api = io.api();
  const migration = await api.getMigration(name);
  const askFirst = async (): Promise<boolean> => {
    io.stderr.write(`${abortWarning(migration)}\n`);
    const answer = await readAnswer(io, `Type the migration's name (${name}) to abort it, anything else to keep it: `);
    if (answer === name) return true;
    if (!(io.stdin as { isTTY?: boolean }).isTTY) io.stderr.write('\n'); // a piped answer is not echoed
    io.stderr.write(`not aborted${answer === undefined ? ' (no answer on stdin; pass --yes to abort without asking)' : ''}.\n`);
    return false;
  };
  return carryOut(DECIDE[verb](migration, options, io.now()), io, (patch) => api.patchMigration(name, patch), verb === 'abort' && !options.yes ? askFirst : undefined);
}

/** One line from stdin (a terminal, or a pipe); undefined at end of input. */
async function readAnswer(io: CliIo, prompt: string): Promise<string | undefined> {
  io.stderr.write(prompt);
  const lines = createInterface({ input: io.stdin, terminal: false });
  try {
    for await (const line of lines) return line.trim();
    return undefined;
  } finally {
    lines.close();
  }
}

/** get --watch: the tree redrawn in place on every change (a new block per change without a terminal), until Ctrl-C. */
async function watchTree(name: string, io: CliIo, cellWatch: CellWatch): Promise<number> {
  const tty = io.stdout.isTTY === true;
  let drawn = 0;
  let last = '';
  const draw = (): boolean => {
    const { cell, children } = cellWatch.current();
    if (!cell) {
      io.stdout.write(`cell ${name} was deleted\n`);
      return false;
    }
    const lines = fitWidth(renderCellTree(cell, children), io.stdout.columns);
    const text = lines.join('\n');
    if (text === last) return true;
    last = text;
    if (tty) {
      io.stdout.write(`${drawn > 0 ? ANSI.up(drawn) + ANSI.clearToEnd : ''}${text}\n`);
      drawn = lines.length;
    } else {
      io.stdout.write(`${text}\n\n`);
    }
    return true;
  };
  if (tty) io.stdout.write(ANSI.hideCursor);
  try {
    return await new Promise<number>((resolve) => {
      let loaded = false;
      let pending: ReturnType<typeof setTimeout> | undefined;
      // Many objects change together (a rollout): one redraw for a burst.
      cellWatch.onChange(() => {
        if (!loaded || pending) return;
        pending = setTimeout(() => {
          pending = undefined;
          if (!draw()) resolve(1);
        }, 100);
      });
      io.signal.addEventListener('abort', () => resolve(130)); // Ctrl-C: the shell's code for SIGINT
      void cellWatch.synced.then(() => {
        loaded = true;
        if (!draw()) resolve(1);
      });
    });
  } finally {
    if (tty) io.stdout.write(ANSI.showCursor);
    await cellWatch.stop();
  }
}

async function watch(name: string, intervalMs: number, io: CliIo): Promise<number> {
  const api = io.api();
  const tty = io.stdout.isTTY === true;
  let drawn = 0;
  let lastVersion: string | undefined;
  let migration = await api.getMigration(name); // a first failure ends the watch: nothing to show
  // Changes come through the API server's watch (an informer); the interval only redraws the clock.
  const fleet = io.watchFleet?.();
  let wake: () => void = () => undefined;
  fleet?.onChange(() => wake());
  let synced = false;
  void fleet?.synced.then(() => (synced = true));
  if (tty) io.stdout.write(ANSI.hideCursor);
  try {
    for (;;) {
      const end = watchEnd(migration);
      if (tty) {
        const lines = fitWidth(renderMigrationBlock(migration, io.now()), io.stdout.columns);
        io.stdout.write(`${drawn > 0 ? ANSI.up(drawn) + ANSI.clearToEnd : ''}${lines.join('\n')}\n`);
        drawn = lines.length;
      } else if (migration.metadata.resourceVersion !== lastVersion || end) {
        // Without a terminal, a line per change of the object, not one per second.
        io.stdout.write(`${renderMigrationLine(migration, io.now())}\n`);
      }
      lastVersion = migration.metadata.resourceVersion;
      if (end) {
        io.stdout.write(`${end.lines.join('\n')}\n`);
        return end.exitCode;
      }
      try {
        await nextTick(intervalMs, io.signal, (resolve) => (wake = resolve));
      } catch {
        return 130; // Ctrl-C: the shell's code for SIGINT
      }
      migration = fleet ? fromWatch(fleet, synced, name, migration) : await readAgain(api, name, migration, io, () => (tty ? (drawn = 0) : 0));
    }
  } finally {
    if (tty) io.stdout.write(ANSI.showCursor);
    await fleet?.stop();
  }
}

/** Resolves after `ms`, or sooner when `onWake`'s resolver is called; rejects on abort. */
function nextTick(ms: number, signal: AbortSignal, onWake: (resolve: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted(): void {
      clearTimeout(timer);
      reject(new Error('aborted'));
    }
    signal.addEventListener('abort', aborted, { once: true });
    onWake(done);
  });
}

/** The migration as the watch has it now (the last one read while it loads); gone from a synced cache means deleted. */
function fromWatch(fleet: FleetWatch, synced: boolean, name: string, previous: ObservedMigration): ObservedMigration {
  if (!synced) return previous;
  const now = fleet.migrations().find((m) => m.metadata.name === name);
  if (!now) throw new CliError(`migration ${name} not found (kubectl get migrations lists them): it was deleted`);
  return now;
}

/** The next read; a failure other than "deleted" is said once and retried until the API answers. */
async function readAgain(api: CellsApi, name: string, previous: ObservedMigration, io: CliIo, forgetDrawing: () => unknown): Promise<ObservedMigration> {
  let said = '';
  for (;;) {
    try {
      return await api.getMigration(name);
    } catch (err) {
      if (!(err instanceof CliError) || /not found/.test(err.message)) throw err;
      if (err.message !== said) {
        io.stderr.write(`${err.message}; retrying\n`);
        said = err.message;
        forgetDrawing(); // the message moved the cursor: draw the block anew below it
      }
      try {
        await sleep(2000, undefined, { signal: io.signal });
      } catch {
        return previous;
      }
    }
  }
}

async function route(customer: string, routerUrl: string, io: CliIo): Promise<number> {
  const url = `${routerUrl}/v1/routes/${encodeURIComponent(customer)}`;
  let res: Response;
  try {
    res = await io.fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    io.stderr.write(`error: ${renderRouterUnreachable(routerUrl, err).join('\n')}\n`);
    return 1;
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: rendered as text
  }
  const answer = renderRouteAnswer(customer, { status: res.status, retryAfter: res.headers.get('retry-after') ?? undefined, body });
  if (answer.stdout.length > 0) io.stdout.write(`${answer.stdout.join('\n')}\n`);
  if (answer.stderr.length > 0) io.stderr.write(`error: ${answer.stderr.join('\n')}\n`);
  return answer.exitCode;
}
