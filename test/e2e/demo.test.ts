// `npm run demo`, as a person runs it, to its promotion pause (DEMO_EXIT_AT_PAUSE=1): it sets up what
// it needs, reuses the running local cluster, and the test checks what it prints and what the
// cluster holds afterwards (the demo's cells and the canary Migration waiting for a person, a real
// broker per cell with the gateway and ingestion workers, readings moving with their customers).
// Its whole output: .local/e2e/demo-output.log.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_SELECTOR, MIGRATION_NAME, PROMOTION_STEP } from '../../scripts/demo/demo-manifests.js';
import { e2eEnv, kubectl, kubectlJson } from './support/kube.js';

const TIMEOUT_MS = 15 * 60_000;

interface Demo {
  code: number | null;
  output: string;
  /** What the cluster held once the demo announced its last step, while it still ran. */
  atPause?: Promise<ClusterView>;
}

interface ClusterView {
  cells: { metadata: { name: string }; spec: { region: string } }[];
  migration: { status?: { phase?: string; currentStep?: number; progress?: string } };
  table: string;
}

async function clusterView(): Promise<ClusterView> {
  const cells = (await kubectlJson<{ items: ClusterView['cells'] }>(['get', 'cells', '-l', DEMO_SELECTOR])).items;
  const migration = await kubectlJson<ClusterView['migration']>(['get', 'migration', MIGRATION_NAME]);
  const table = (await kubectl(['get', 'migration', MIGRATION_NAME])).stdout;
  return { cells, migration, table };
}

function runDemo(): Promise<Demo> {
  let atPause: Promise<ClusterView> | undefined;
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', 'demo'], {
      cwd: process.cwd(),
      env: { ...process.env, NODE_OPTIONS: '', DEMO_EXIT_AT_PAUSE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
      // The last step reads the migration at its pause; the demo then counts rows for a while.
      if (!atPause && output.includes('[9/9] ')) atPause = clusterView();
    });
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS - 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      // All of it, for a person to read: the assertions below quote only its end.
      writeFileSync(path.join(e2eEnv().artifactsDir, 'demo-output.log'), output);
      resolve({ code, output, ...(atPause ? { atPause } : {}) });
    });
  });
}

const describeLocal = e2eEnv().cluster === 'local' ? describe : describe.skip;

describeLocal('npm run demo', () => {
  let demo: Demo;

  beforeAll(async () => {
    demo = await runDemo();
  }, TIMEOUT_MS);

  it('runs its nine steps to the promotion pause and exits 0', () => {
    if (demo.code !== 0) throw new Error(`the demo exited ${demo.code}:\n${demo.output.slice(-4000)}`);
    for (let n = 1; n <= 9; n++) expect(demo.output).toContain(`[${n}/9] `);
    expect(demo.output).toContain(`the migration waits at step ${PROMOTION_STEP} (pause: {}) for you to promote it`);
    // The demo checks its own data: every row of a moved customer arrived once.
    expect(demo.output).toMatch(/every row inserted for them is in \S+'s database, once/);
    expect(demo.output).not.toContain('ROWS DIFFER');
    // Its cells run on Citus (the build is cached by scripts/setup.sh): the operator registered two workers in each.
    expect(demo.output).not.toContain('the cells run on PLAIN PostgreSQL');
    expect(demo.output.match(/Citus 13\.2\.2 with 2 workers registered by the operator; 2 tables distributed by customer_id/g)).toHaveLength(3);
  });

  it('runs a real broker per cell, the gateway and an ingestion worker per cell, and readings move from eu-west-1a to eu-west-1b, each once', () => {
    expect(demo.output).not.toContain('Kafka is not available');
    expect(demo.output.match(/Kafka 4\.1\.1 broker 127\.0\.0\.1:\d+ \(pid \d+\)/g)).toHaveLength(3);
    // Each cell's Kafka status carries its real broker, and the Cell and the routing table say the same.
    expect(demo.output.match(/Kafka status\.listeners\[\]\.bootstrapServers = Cell status\.endpoints\.kafkaBootstrap = routing table: 127\.0\.0\.1:\d+/g)).toHaveLength(3);
    expect(demo.output).toMatch(/gateway {3}pid \d+, http:\/\/127\.0\.0\.1:\d+/);
    expect(demo.output.match(/ingest {4}\S+ +pid \d+, group cell-ingest on 127\.0\.0\.1:\d+/g)).toHaveLength(3);
    // The [traffic] lines: what the gateway acknowledged per cell and the rows each worker wrote.
    const traffic = [...demo.output.matchAll(/\[traffic\] gateway acknowledged (\d+) msg\/s \(eu-west-1a (\d+), eu-west-1b (\d+)\); rows written eu-west-1a (\d+)\/s \((\d+)\), eu-west-1b (\d+)\/s \((\d+)\)/g)].map((m) => m.slice(1).map(Number));
    expect(traffic.length).toBeGreaterThan(5);
    const firstToA = traffic.findIndex(([, toA, , rowsA]) => toA! > 0 && rowsA! > 0);
    const laterToB = traffic.findIndex(([, , toB, , , rowsB], i) => i > firstToA && toB! > 0 && rowsB! > 0);
    expect(firstToA).toBeGreaterThanOrEqual(0);
    expect(laterToB).toBeGreaterThan(firstToA);
    // The check at the pause: every acknowledged reading of a moved customer is one row in its new cell.
    const [, acknowledged, rows] = /readings of the moved customers: (\d+) acknowledged by the gateway, (\d+) rows of theirs in eu-west-1b's database .*; 0 missing, 0 duplicated/.exec(demo.output) ?? [];
    expect(Number(acknowledged)).toBeGreaterThan(0);
    expect(Number(rows)).toBeGreaterThanOrEqual(Number(acknowledged));
    expect(demo.output).toContain('exactly once: every reading the gateway acknowledged for the moved customers is one row in eu-west-1b');
  });

  it('held its three cells in two regions and the canary migration at the pause while it ran', async () => {
    expect(demo.atPause).toBeDefined();
    const { cells, migration, table } = await demo.atPause!;
    expect(cells).toHaveLength(3);
    expect(new Set(cells.map((c) => c.spec.region)).size).toBe(2);
    expect(migration.status).toMatchObject({ phase: 'Paused', currentStep: PROMOTION_STEP });
    expect(migration.status?.progress).toMatch(/^[1-9]\d*\/\d+$/);
    // kubectl shows the same, with the step and progress columns.
    expect(table).toMatch(new RegExp(`${MIGRATION_NAME}\\s+\\S+\\s+\\S+\\s+Paused\\s+${PROMOTION_STEP}\\s+${migration.status?.progress}`));
  });

  it('removes what it created when it stops at the pause', async () => {
    expect((await kubectlJson<{ items: unknown[] }>(['get', 'cells,migrations', '-l', DEMO_SELECTOR])).items).toEqual([]);
  });
});
