#!/usr/bin/env node
// `kubectl cells`, the kubectl plugin of cell-operator (installed as kubectl-cells on the PATH):
// parses the command line, wires the real streams, clock, API and router, and sets the exit code
// (0 ok, 1 error or refused, 2 usage).
import { CellsApi, kubeConfigFor } from './cells-api.js';
import { parseCommandLine } from './command-line.js';
import { runCommand, type FleetWatch } from './commands.js';
import { CELL, GROUP, MIGRATION, VERSION } from '../crds/group.js';
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
