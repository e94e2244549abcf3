// `npm run kafka:up -- <cell>...` starts one real Kafka broker per named cell, detached, beside the
// local control plane (`npm run cluster:up`), each with a `telemetry` topic; `kafka:down` stops
// them; `kafka:status` lists them. State in .local/kafka/state.json. Opt-in: a broker costs about
// 8 s and 400 MB, and the kwok cells work without one.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopic, startKafka, stopKafkaByPid } from './kafka.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATE = path.join(ROOT, '.local', 'kafka', 'state.json');

type State = Record<string, { pid: number; bootstrap: string; dir: string }>;

function read(): State {
  return existsSync(STATE) ? (JSON.parse(readFileSync(STATE, 'utf8')) as State) : {};
}

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch {
    return false;
  }
}

async function main([command, ...cells]: string[]): Promise<number> {
  const state = read();
  if (command === 'up') {
    for (const cell of cells.length ? cells : ['cell-a']) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(cell)) throw new Error(`"${cell}" is not a cell name`);
      const running = state[cell];
      if (running && alive(running.pid)) {
        console.log(`${cell}: running, ${running.bootstrap}`);
        continue;
      }
      const broker = await startKafka({ name: cell, detached: true, dir: path.join(ROOT, '.local', 'kafka', cell) });
      await createTopic(broker.bootstrap, 'telemetry', 3);
      state[cell] = { pid: broker.pid, bootstrap: broker.bootstrap, dir: broker.dir };
      mkdirSync(path.dirname(STATE), { recursive: true });
      writeFileSync(STATE, JSON.stringify(state, null, 2));
      console.log(`${cell}: started, ${broker.bootstrap} (log ${broker.logFile})`);
    }
    return 0;
  }
  if (command === 'down') {
    for (const [cell, b] of Object.entries(state)) {
      await stopKafkaByPid(b.pid);
      rmSync(b.dir, { recursive: true, force: true });
      console.log(`${cell}: stopped`);
    }
    rmSync(STATE, { force: true });
    return 0;
  }
  if (command === 'status') {
    for (const [cell, b] of Object.entries(state)) console.log(`${cell}: ${alive(b.pid) ? 'running' : 'not running'}, ${b.bootstrap}`);
    return 0;
  }
  console.error('usage: kafka-cli up [cell...] | down | status');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
