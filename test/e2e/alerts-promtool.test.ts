// The chart's alerts checked by the real promtool (built from the Prometheus Go module by
// tools/promtool/build.sh, cached like the control plane): `check rules` on the rules as the chart
// renders them, and `test rules` with input series (test/promtool/alerts.test.yaml) in which every
// alert fires once and stays quiet once.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);
const root = process.cwd();
const ALERTS = path.join(root, 'charts/cell-operator/files/alerts.yaml');
const TESTS = path.join(root, 'test/promtool/alerts.test.yaml');

interface PromtoolResult {
  code: number;
  output: string;
}

let promtool = '';
let dir = '';

async function promtoolRun(args: string[]): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await run(promtool, args, { cwd: dir, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: (e.stdout ?? '') + (e.stderr ?? e.message) };
  }
}

/** The alerts as the chart's PrometheusRule holds them: its two placeholders replaced. */
function renderAlerts(text: string): string {
  return text.replaceAll('ROUTER_JOB', 'cell-operator-router').replaceAll('NAMESPACE', 'cells-system');
}

interface AlertTests {
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe('the chart alerts under promtool', () => {
  beforeAll(async () => {
    const { stdout } = await run(path.join(root, 'tools/promtool/build.sh'), { timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024 });
    promtool = stdout.trim().split('\n').pop() ?? '';
    dir = mkdtempSync(path.join(tmpdir(), 'promtool-'));
    writeFileSync(path.join(dir, 'alerts.yaml'), renderAlerts(readFileSync(ALERTS, 'utf8')));
    copyFileSync(TESTS, path.join(dir, 'alerts.test.yaml'));
  }, 31 * 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is the real promtool', async () => {
    const { code, output } = await promtoolRun(['--version']);
    expect(code).toBe(0);
    expect(output).toMatch(/^promtool, version 3\.\d+\.\d+/);
  });

  it('accepts the rules with promtool check rules, lint included', async () => {
    const result = await promtoolRun(['check', 'rules', '--lint=all', '--lint-fatal', 'alerts.yaml']);
    expect(result).toEqual({ code: 0, output: expect.stringMatching(/SUCCESS: \d+ rules found/) });
  });

  it('refuses a broken rule, so that the check above can fail', async () => {
    writeFileSync(path.join(dir, 'broken.yaml'), 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (cell (cell_operator_cell_ready)\n');
    const result = await promtoolRun(['check', 'rules', 'broken.yaml']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('FAILED');
  });

  it('passes promtool test rules: every alert fires on its input series and stays quiet on the others', async () => {
    const result = await promtoolRun(['test', 'rules', 'alerts.test.yaml']);
    if (result.code !== 0) throw new Error(result.output);
    expect(result.output).toContain('SUCCESS');
  });

  it('has, for every alert of the chart, a test where it fires and one where it stays quiet', () => {
    const alerts = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert?: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert).filter(Boolean));
    const tests = (parse(readFileSync(TESTS, 'utf8')) as AlertTests).tests.flatMap((t) => t.alert_rule_test);
    const coverage = alerts.map((alert) => ({
      alert,
      fires: tests.some((t) => t.alertname === alert && t.exp_alerts.length > 0),
      quiet: tests.some((t) => t.alertname === alert && t.exp_alerts.length === 0),
    }));
    expect(coverage.filter((c) => !c.fires || !c.quiet)).toEqual([]);
    expect(alerts.length).toBeGreaterThanOrEqual(10);
  });
});
