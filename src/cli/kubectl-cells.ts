#!/usr/bin/env node
// `kubectl cells`, the kubectl plugin of cell-operator (installed as kubectl-cells on the PATH):
// parses the command line, wires the real streams, clock, API and router, and sets the exit code
// (0 ok, 1 error or refused, 2 usage).
import { CellsApi, kubeConfigFor } from './cells-api.js';
import { parseCommandLine } from './command-line.js';
import { runCommand, type CellWatch, type FleetWatch } from './commands.js';
import type { ChildObject, ObservedChild } from './cell-tree.js';
import { childResource } from '../controllers/cell/child-resources.js';
import { CELL, GROUP, LABEL_CELL, MIGRATION, VERSION } from '../crds/group.js';
import { createInformer, type Informer } from '../runtime/informer.js';
import { createKubeClient } from '../runtime/kube-client.js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ObservedCell, ObservedMigration } from './observed.js';
import type { KubeObject } from '../runtime/resource.js';

/** Cells and Migrations through the runtime's informer: a list, then the API server's watch. */
function watchFleet(kc: KubeConfig): FleetWatch {
  const client = createKubeClient(kc, { timeoutMs: 30_000 });
  const informer = <T extends KubeObject>(plural: string, kind: string) => createInformer<T>(kc, client, { group: GROUP, version: VERSION, plural, kind, namespaced: false });
  const cells = informer<KubeObject & ObservedCell>(CELL.plural, CELL.kind);
  const migrations = informer<KubeObject & ObservedMigration>(MIGRATION.plural, MIGRATION.kind);
  const both: Informer<KubeObject>[] = [cells, migrations];
  for (const i of both) i.start();
  return {
    cells: () => cells.list(),
    migrations: () => migrations.list(),
    synced: Promise.all(both.map((i) => i.waitForSync())).then(() => undefined),
    onChange: (listener) => {
      for (const i of both) i.on({ add: listener, update: listener, delete: listener });
    },
    stop: async () => {
      await Promise.all(both.map((i) => i.stop()));
    },
  };
}

/**
 * One Cell and its children through the runtime's informers: the Cells, and each child kind in the
 * cell's namespace selected by the operator's label (cells.platform.io/cell=NAME).
 */
function watchCell(kc: KubeConfig, name: string, expected: readonly ObservedChild[]): CellWatch {
  const client = createKubeClient(kc, { timeoutMs: 30_000 });
  const cells = createInformer<KubeObject & ObservedCell>(kc, client, { group: GROUP, version: VERSION, plural: CELL.plural, kind: CELL.kind, namespaced: false });
  const byKind = new Map<string, Informer<KubeObject>>();
  for (const child of expected) {
    if (byKind.has(child.kind)) continue;
    byKind.set(child.kind, createInformer(kc, client, childResource(child.kind), { labelSelector: `${LABEL_CELL}=${name}`, ...(child.namespace ? { namespace: child.namespace } : {}) }));
  }
  const all: Informer<KubeObject>[] = [cells, ...byKind.values()];
  for (const i of all) i.start();
  return {
    current: () => ({
      cell: cells.list().find((c) => c.metadata?.name === name),
      children: expected.map((c) => {
        const object = byKind.get(c.kind)?.list().find((o) => o.metadata?.name === c.name && (o.metadata?.namespace ?? undefined) === c.namespace);
        return { ...c, ...(object ? { object: object as ChildObject } : {}) };
      }),
    }),
    synced: Promise.all(all.map((i) => i.waitForSync())).then(() => undefined),
    onChange: (listener) => {
      for (const i of all) i.on({ add: listener, update: listener, delete: listener });
    },
    stop: async () => {
      await Promise.all(all.map((i) => i.stop()));
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, process.env);
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return 0;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`error: ${parsed.message}\n\n${parsed.help}\n`);
    return 2;
  }
  const interrupted = new AbortController();
  // A watch ends cleanly on Ctrl-C (the cursor shown again); any other command just dies.
  if (parsed.command.name === 'migration' && parsed.command.verb === 'watch') process.once('SIGINT', () => interrupted.abort());
  if (parsed.command.name === 'status' && parsed.options.timeoutSeconds !== undefined) process.once('SIGINT', () => interrupted.abort());
  if (parsed.command.name === 'cell' && parsed.options.watch) process.once('SIGINT', () => interrupted.abort());
  let api: CellsApi | undefined;
  return runCommand(parsed.command, parsed.options, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    now: () => new Date(),
    api: () => (api ??= CellsApi.fromKubeConfig(kubeConfigFor(parsed.options, process.env))),
    fetch: globalThis.fetch,
    signal: interrupted.signal,
    watchFleet: () => watchFleet(kubeConfigFor(parsed.options, process.env)),
    watchCell: (name, children) => watchCell(kubeConfigFor(parsed.options, process.env), name, children),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`kubectl cells: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
