#!/usr/bin/env node
// Entry point of the image: `cell-operator operator` runs the controllers, `cell-operator router`
// serves the routing table, `gateway` and `ingest` are the reference data path of a cell (device
// -> Kafka -> database). Configuration comes from flags and environment (src/config.ts).
import { ConfigError, parseGatewayConfig, parseIngestConfig, parseOperatorConfig, parseRouterConfig, usage } from './config.js';

const COMMANDS = ['operator', 'router', 'gateway', 'ingest'] as const;
type Command = (typeof COMMANDS)[number];

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || !COMMANDS.includes(command as Command)) {
    process.stderr.write(`usage: cell-operator <${COMMANDS.join('|')}> [flags]; see cell-operator <command> --help\n`);
    return command && command !== '--help' && command !== '-h' ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${usage(command as Command)}\n`);
    return 0;
  }
  try {
    if (command === 'operator') {
      const { runOperator } = await import('./operator.js');
      return await runOperator(parseOperatorConfig(rest));
    }
    if (command === 'gateway') {
      const { runGateway } = await import('./gateway/run.js');
      return await runGateway(parseGatewayConfig(rest));
    }
    if (command === 'ingest') {
      const { runIngest } = await import('./ingest/run.js');
      return await runIngest(parseIngestConfig(rest));
    }
    const { runRouter } = await import('./router/run.js');
    return await runRouter(parseRouterConfig(rest));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cell-operator ${command}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cell-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
