// `npm run demo`, as a person runs it, to its promotion pause (DEMO_EXIT_AT_PAUSE=1): it sets up what
// it needs, reuses the running local cluster, and the test checks what it prints and what the
// cluster holds afterwards (the demo's cells and the canary Migration waiting for a person).
import { spawn } from 'node:child_process';
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
