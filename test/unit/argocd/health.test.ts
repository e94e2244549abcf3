// The Argo CD health checks (charts/cell-operator/argocd/health/*.lua) run in a real Lua 5.1
// interpreter, the dialect of Argo CD's gopher-lua, against the status fixtures in
// test/fixtures/argocd/: `<kind>.<expected health>.<case>.json`. Debian package: lua5.1.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CellRebalancePolicySpecSchema, CellRebalancePolicyStatusSchema, CellReleaseSpecSchema, CellReleaseStatusSchema, CellSpecSchema, CellStatusSchema, CustomerPlacementSpecSchema, CustomerPlacementStatusSchema, MigrationSpecSchema, MigrationStatusSchema } from '../../../src/crds/index.js';
import { luaString, toLuaLiteral } from './lua-literal.js';

const root = process.cwd();
const HEALTH_DIR = path.join(root, 'charts/cell-operator/argocd/health');
const FIXTURES = path.join(root, 'test/fixtures/argocd');
const LUA = process.env.LUA ?? 'lua5.1';

const KINDS = {
  cell: { kind: 'Cell', spec: CellSpecSchema, status: CellStatusSchema },
  customerplacement: { kind: 'CustomerPlacement', spec: CustomerPlacementSpecSchema, status: CustomerPlacementStatusSchema },
  migration: { kind: 'Migration', spec: MigrationSpecSchema, status: MigrationStatusSchema },
  cellrebalancepolicy: { kind: 'CellRebalancePolicy', spec: CellRebalancePolicySpecSchema, status: CellRebalancePolicyStatusSchema },
  cellrelease: { kind: 'CellRelease', spec: CellReleaseSpecSchema, status: CellReleaseStatusSchema },
} as const;
const HEALTH = { healthy: 'Healthy', progressing: 'Progressing', degraded: 'Degraded', suspended: 'Suspended' } as const;

interface Fixture {
  file: string;
  kind: keyof typeof KINDS;
  expected: (typeof HEALTH)[keyof typeof HEALTH];
  object: { kind: string; metadata: { name: string }; spec: unknown; status?: unknown };
}

const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => {
    const [kind, health] = file.split('.') as [string, string];
    if (!(kind in KINDS) || !(health in HEALTH)) throw new Error(`${file}: name it <cell|customerplacement|migration|cellrebalancepolicy|cellrelease>.<healthy|progressing|degraded|suspended>.<case>.json`);
    return { file, kind: kind as keyof typeof KINDS, expected: HEALTH[health as keyof typeof HEALTH], object: JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as Fixture['object'] };
  });

/** Runs the health script of `kind` on `obj` as Argo CD does: `obj` a global, the chunk returns hs. */
function health(kind: string, obj: unknown): { status: string; message: string } {
  const script = path.join(HEALTH_DIR, `cells.platform.io_${kind}.lua`);
  const program = [
    `obj = ${toLuaLiteral(obj)}`,
    `local hs = dofile(${luaString(script)})`,
    'assert(type(hs) == "table", "the script returned no table")',
    'io.write(tostring(hs.status), "\\n", tostring(hs.message))',
  ].join('\n');
  const run = spawnSync(LUA, ['-'], { input: program, encoding: 'utf8', timeout: 10_000 });
  if (run.error) throw new Error(`cannot run ${LUA} (${run.error.message}): install the Debian package lua5.1, or set LUA`);
  if (run.status !== 0) throw new Error(`${LUA} failed on ${kind}: ${run.stderr}`);
  const [status = '', ...message] = run.stdout.split('\n');
  return { status, message: message.join('\n') };
}

describe('the Lua literal of a JSON object', () => {
  it('reads back the same in Lua 5.1, escapes and nested lists included', () => {
    const value = { a: [1, 2.5, { b: 'quote " backslash \\ newline \n é €' }], 'key-with-dash': true, gone: null };
    const run = spawnSync(LUA, ['-'], {
      input: `local t = ${toLuaLiteral(value)}\nio.write(#t.a, "|", t.a[2], "|", t.a[3].b, "|", tostring(t["key-with-dash"]), "|", tostring(t.gone))`,
      encoding: 'utf8',
    });
    expect(run.stdout).toBe('3|2.5|quote " backslash \\ newline \n é €|true|nil');
  });
});

describe('the Argo CD health checks', () => {
  it.each(fixtures.map((f) => [f.file, f] as const))('%s', (_file, fixture) => {
    const result = health(KINDS[fixture.kind].kind, fixture.object);
    expect(result.status).toBe(fixture.expected);
    expect(result.message.length).toBeGreaterThan(0);
    expect(result.message).not.toMatch(/^nil$|table: 0x/);
  });

  it('reach Healthy, Progressing, Degraded and Suspended, each kind all but Suspended, and Suspended only for a paused Migration or CellRelease', () => {
    const reached = (kind: string) => new Set(fixtures.filter((f) => f.kind === kind).map((f) => f.expected));
    for (const kind of ['cell', 'customerplacement', 'migration', 'cellrebalancepolicy', 'cellrelease']) {
      for (const h of ['Healthy', 'Progressing', 'Degraded'] as const) expect({ kind, h, reached: reached(kind).has(h) }).toEqual({ kind, h, reached: true });
    }
    expect(fixtures.filter((f) => f.expected === 'Suspended').every((f) => (f.kind === 'migration' || f.kind === 'cellrelease') && (f.object.status as { phase?: string }).phase === 'Paused')).toBe(true);
    expect(reached('migration').has('Suspended')).toBe(true);
    expect(reached('cellrelease').has('Suspended')).toBe(true);
  });

  it('say what a person should act on', () => {
    const message = (file: string) => {
      const f = fixtures.find((x) => x.file === file)!;
      return health(KINDS[f.kind].kind, f.object).message;
    };
    expect(message('cell.degraded.stalled.json')).toMatch(/password authentication failed/);
    expect(message('cell.degraded.deletion-blocked.json')).toMatch(/12 customer\(s\) are still placed/);
    expect(message('cell.healthy.ready.json')).toBe('Ready, 9812 customers');
    expect(message('cell.progressing.stale-generation.json')).toBe('Waiting for the cell-operator to act on generation 5');
    expect(message('customerplacement.healthy.placed.json')).toBe('Placed in cell eu-west-1a (epoch 4)');
    expect(message('customerplacement.degraded.drifted.json')).toMatch(/Create a Migration/);
    expect(message('migration.suspended.paused-step.json')).toMatch(/promote with kubectl patch .*\(81\/812 customers moved\)$/);
    expect(message('migration.degraded.failed.json')).toMatch(/latest: cust-000917 ChecksumMismatch$/);
    expect(message('migration.healthy.aborted.json')).toMatch(/81 customers moved back/);
    expect(message('cellrebalancepolicy.healthy.awaiting-approval.json')).toMatch(/kubectl cells rebalance approve eu-west-1/);
    expect(message('cellrebalancepolicy.degraded.migration-failed.json')).toMatch(/retry it/);
    expect(message('cellrelease.suspended.waiting-for-promotion.json')).toMatch(/Promote with kubectl cells release promote ingest-2-1 .*\(1\/3 cells updated\)$/);
    expect(message('cellrelease.degraded.failed.json')).toMatch(/^Cell eu-west-1a failed \(ProgressDeadlineExceeded\)/);
  });

  it('see the fixtures as the operator could write them (spec and status valid under the zod schemas)', () => {
    for (const f of fixtures) {
      const { kind, spec, status } = KINDS[f.kind];
      expect({ file: f.file, kind: f.object.kind }).toEqual({ file: f.file, kind });
      const specResult = spec.safeParse(f.object.spec);
      expect({ file: f.file, spec: specResult.success ? 'valid' : specResult.error.message }).toEqual({ file: f.file, spec: 'valid' });
      if (f.object.status === undefined) continue;
      const statusResult = status.safeParse(f.object.status);
      expect({ file: f.file, status: statusResult.success ? 'valid' : statusResult.error.message }).toEqual({ file: f.file, status: 'valid' });
      // No field the schema does not know (zod drops them silently).
      expect(statusResult.data).toEqual(f.object.status);
    }
  });
});
