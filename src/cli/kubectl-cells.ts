#!/usr/bin/env node
// `kubectl cells`, the kubectl plugin of cell-operator (installed as kubectl-cells on the PATH):
// parses the command line, wires the real streams, clock, API and router, and sets the exit code
// (0 ok, 1 error or refused, 2 usage).
import { CellsApi, kubeConfigFor } from './cells-api.js';
import { parseCommandLine } from './command-line.js';
import { runCommand } from './commands.js';

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
  let api: CellsApi | undefined;
  return runCommand(parsed.command, parsed.options, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    now: () => new Date(),
    api: () => (api ??= CellsApi.fromKubeConfig(kubeConfigFor(parsed.options, process.env))),
    fetch: globalThis.fetch,
    signal: interrupted.signal,
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
