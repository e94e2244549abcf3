import { parseCellReleaseSpec, RELEASE_APPLIED_STATES, type CellReleaseSpec, type CellReleaseSpecInput, type CellReleaseStatus } from '../../crds/cell-release.js';
import { analysesDue, decideRelease, releaseProblem, type ObservedCell, type OtherRelease, type ReleaseDecision, type ReleaseFacts } from './release-decision.js';

const t0 = new Date('2026-12-02T10:00:00Z');
const sec = (s: number) => new Date(t0.getTime() + s * 1000);

function spec(input: Partial<CellReleaseSpecInput> = {}) {
  const r = parseCellReleaseSpec({ workloads: [{ name: 'ingest', image: 'ingest:2' }], steps: [{ cells: 1 }, { pause: {} }, { cells: '50%' }, { cells: '100%' }], ...input });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

const cell = (name: string, more: Partial<ObservedCell> = {}): ObservedCell => ({ name, labels: {}, workloads: ['ingest', 'api'], ready: true, ...more });
const five = () => ['a', 'b', 'c', 'd', 'e'].map((n) => cell(n, n === 'c' ? { labels: { canary: 'true' } } : {}));

/** A small world: the release, the cells, and a Cell controller that applies what the status says. */
class World {
  status: CellReleaseStatus | undefined;
  cells: ObservedCell[];
  /** Cells whose pods never become Ready with the release. */
  bad = new Set<string>();
  others: OtherRelease[] = [];
  log: string[] = [];
  constructor(
    public spec: CellReleaseSpec,
    cells: ObservedCell[] = five(),
    public name = 'r2',
  ) {
    this.cells = cells;
  }
  facts(now: Date): ReleaseFacts {
    return { name: this.name, generation: 1, createdAt: t0, spec: this.spec, version: '2.0', cells: this.cells, others: this.others, now, ...(this.status ? { status: this.status } : {}) };
  }
  /** One reconcile of the release, then one of every Cell. */
  step(now: Date): ReleaseDecision {
    const d = decideRelease(this.facts(now));
    this.status = d.status;
    for (const a of d.actions) this.log.push(`${a.kind} ${a.cell}`);
    this.cells = this.cells.map((c) => {
      const entry = d.status.cells?.find((e) => e.name === c.name);
      const applied = entry !== undefined && RELEASE_APPLIED_STATES.has(entry.state);
      if (applied) return { ...c, running: { name: this.name, version: '2.0' }, ready: !this.bad.has(c.name) };
      const { running: _running, ...rest } = c;
      return { ...rest, ready: true };
    });
    return d;
  }
  state(): Record<string, string> {
    return Object.fromEntries((this.status?.cells ?? []).map((e) => [e.name, e.state]));
  }
}

describe('decideRelease', () => {
  it('goes canary → wave → all, waiting at pause: {} until promoted', () => {
    const w = new World(spec({ canary: { selector: { matchLabels: { canary: 'true' } } } }));
    w.step(sec(0));
    expect(w.state()).toEqual({ c: 'Updating' });
    w.step(sec(1)); // c is Ready with 2.0: its bake (0s) starts
    expect(w.state()).toEqual({ c: 'Baking' });
    w.step(sec(2));
    expect(w.state()).toEqual({ c: 'Updated' });
    expect(w.status).toMatchObject({ phase: 'Paused', currentStep: 1, progress: '1/5' });
    expect(w.status?.conditions?.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'WaitingForPromotion' });
    w.step(sec(100));
    expect(w.state()).toEqual({ c: 'Updated' });
    w.spec = { ...w.spec, promotedStep: 1 };
    w.step(sec(101)); // 50% of 5 = 3 cells; maxUnavailable 1: one more at a time
    expect(w.state()).toEqual({ c: 'Updated', a: 'Updating' });
    for (let s = 102; s < 140 && w.status?.phase !== 'Succeeded'; s++) w.step(sec(s));
    expect(w.status).toMatchObject({ phase: 'Succeeded', progress: '5/5', currentStep: 4 });
    expect(w.log.filter((l) => l.startsWith('Reach'))).toEqual(['Reach c', 'Reach a', 'Reach b', 'Reach d', 'Reach e']);
    expect(w.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded', observedGeneration: 1 });
    expect(w.status?.steps?.map((s) => `${s.step}=${s.state}`)).toEqual(['cells: 1=Done', 'pause: {}=Done', 'cells: 50%=Done', 'cells: 100%=Done']);
  });

  it('reaches maxUnavailable cells at once', () => {
    const w = new World(spec({ steps: [{ cells: '100%' }], maxUnavailable: 2 }));
    w.step(sec(0));
    expect(w.state()).toEqual({ a: 'Updating', b: 'Updating' });
  });

  it('holds each cell for the bake time before counting it', () => {
    const w = new World(spec({ bakeTime: '2m' }));
    w.step(sec(0));
    w.step(sec(1));
    expect(w.state()).toEqual({ a: 'Baking' });
    w.step(sec(120));
    expect(w.state()).toEqual({ a: 'Baking' });
    w.step(sec(121));
    expect(w.state()).toEqual({ a: 'Updated' });
  });

  it('restarts the bake of a cell that stops being Ready', () => {
    const w = new World(spec({ bakeTime: '1m' }));
    w.step(sec(0));
    w.step(sec(1));
    w.bad.add('a');
    w.step(sec(30)); // the Cell goes unready after this reconcile
    w.step(sec(31));
    expect(w.state()).toEqual({ a: 'Updating' });
    w.bad.delete('a');
    w.step(sec(32));
    w.step(sec(33));
    expect(w.state()).toEqual({ a: 'Baking' });
    w.step(sec(92));
    expect(w.state()).toEqual({ a: 'Baking' });
    w.step(sec(93));
    expect(w.state()).toEqual({ a: 'Updated' });
  });

  it('fails a cell not Ready by the progress deadline and rolls the reached cells back, the last first', () => {
    const w = new World(spec({ steps: [{ cells: '100%' }], progressDeadline: '1m', maxUnavailable: 1 }));
    for (let s = 0; s < 6; s++) w.step(sec(s)); // a, b updated; c reached at some point
    expect(w.state()).toMatchObject({ a: 'Updated', b: 'Updated' });
    w.bad.add('d');
    for (let s = 6; s < 12; s++) w.step(sec(s));
    expect(w.state()).toEqual({ a: 'Updated', b: 'Updated', c: 'Updated', d: 'Updating' });
    const d = w.step(sec(9 + 61));
    expect(d.actions).toEqual([
      { kind: 'Fail', cell: 'd', reason: 'ProgressDeadlineExceeded', message: expect.stringContaining('not Ready with version 2.0 after spec.progressDeadline 1m') },
      { kind: 'RollBack', cell: 'd' },
    ]);
    expect(w.status?.phase).toBe('RollingBack');
    for (let s = 71; s < 90 && w.status?.phase === 'RollingBack'; s++) w.step(sec(s));
    expect(w.log.filter((l) => l.startsWith('RollBack'))).toEqual(['RollBack d', 'RollBack c', 'RollBack b', 'RollBack a']);
    expect(w.state()).toEqual({ a: 'RolledBack', b: 'RolledBack', c: 'RolledBack', d: 'RolledBack' });
    expect(w.status).toMatchObject({ phase: 'Failed', failure: { cell: 'd', reason: 'ProgressDeadlineExceeded' } });
    expect(w.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'ProgressDeadlineExceeded' });
    expect(w.cells.every((c) => c.running === undefined)).toBe(true);
  });

  it('stops at the canary when the version never becomes Ready there', () => {
    const w = new World(spec({ canary: { names: ['e'] }, progressDeadline: '30s' }));
    w.bad.add('e');
    w.step(sec(0));
    w.step(sec(10));
    expect(w.state()).toEqual({ e: 'Updating' });
    w.step(sec(30));
    w.step(sec(31));
    expect(w.state()).toEqual({ e: 'RolledBack' });
    expect(w.status?.phase).toBe('Failed');
    expect(w.log).toEqual(['Reach e', 'Fail e', 'RollBack e', 'RolledBack e']);
  });

  it('fails a cell whose analysis fails, and holds the bake while the analysis has no answer', () => {
    const w = new World(spec({ analysis: { prometheusUrl: 'http://prom:9090', query: 'up', min: 1 } }));
    w.step(sec(0));
    w.step(sec(1));
    expect(analysesDue(w.spec, w.status, sec(2))).toEqual(['a']);
    const facts = (result: 'Passed' | 'Failed' | 'Inconclusive', s: number) => ({ ...w.facts(sec(s)), analyses: new Map([['a', { result, at: sec(s), message: 'value 0' }]]) });
    let d = decideRelease(facts('Inconclusive', 5));
    expect(d.status.cells?.[0]).toMatchObject({ state: 'Baking', analysis: { result: 'Inconclusive' } });
    d = decideRelease(facts('Failed', 6));
    expect(d.actions.map((a) => a.kind)).toEqual(['Fail', 'RollBack']);
    expect(d.status.failure).toMatchObject({ cell: 'a', reason: 'AnalysisFailed' });
    const passed = decideRelease(facts('Passed', 6));
    expect(passed.status.cells?.[0]?.state).toBe('Updated');
  });

  it('aborts mid-way: every reached cell goes back, the last first', () => {
    const w = new World(spec({ steps: [{ cells: 3 }, { pause: {} }] }));
    for (let s = 0; s < 10; s++) w.step(sec(s));
    expect(w.state()).toEqual({ a: 'Updated', b: 'Updated', c: 'Updated' });
    w.spec = { ...w.spec, abort: true };
    for (let s = 10; s < 20 && w.status?.phase !== 'Aborted'; s++) w.step(sec(s));
    expect(w.log.filter((l) => l.startsWith('RollBack'))).toEqual(['RollBack c', 'RollBack b', 'RollBack a']);
    expect(w.status?.phase).toBe('Aborted');
    expect(w.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Aborted' });
  });

  it('withdraws its versions in waves, the last reached first, when the release is deleted', () => {
    const w = new World(spec({ steps: [{ cells: '100%' }] }));
    for (let s = 0; s < 8; s++) w.step(sec(s));
    expect(Object.values(w.state()).filter((x) => x === 'Updated').length).toBeGreaterThanOrEqual(2);
    const reached = Object.keys(w.state());
    const d = decideRelease({ ...w.facts(sec(8)), deleting: true });
    expect(d.actions).toEqual([{ kind: 'RollBack', cell: reached[reached.length - 1] }]);
    expect(d.status).toMatchObject({ phase: 'RollingBack', message: expect.stringMatching(/^Deleted: its versions are withdrawn before it goes/) });
  });

  it('holds while spec.paused, letting cells in flight finish', () => {
    const w = new World(spec({ steps: [{ cells: '100%' }] }));
    w.step(sec(0));
    w.spec = { ...w.spec, paused: true };
    w.step(sec(1));
    w.step(sec(2));
    w.step(sec(3));
    expect(w.state()).toEqual({ a: 'Updated' });
    expect(w.status?.phase).toBe('Paused');
    expect(w.status?.conditions?.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'PausedBySpec' });
  });

  it('yields to a newer release selecting the same cells, and names it', () => {
    const w = new World(spec({ steps: [{ cells: '100%' }] }));
    w.step(sec(0));
    w.others = [{ name: 'r3', createdAt: sec(1), spec: {}, rolledBack: false }];
    const d = w.step(sec(2));
    expect(d.actions).toEqual([]);
    expect(w.status?.phase).toBe('Superseded');
    expect(w.status?.conditions?.find((c) => c.type === 'Superseded')).toMatchObject({ status: 'True', reason: 'NewerRelease', message: expect.stringContaining('r3') });
    // An older release, a newer one that rolled back, or one that cannot run, takes nothing.
    w.others = [
      { name: 'r1', createdAt: sec(-60), spec: {}, rolledBack: false },
      { name: 'r3', createdAt: sec(1), spec: {}, rolledBack: true },
      { name: 'r4', createdAt: sec(1), spec: {}, rolledBack: false, invalid: true },
    ];
    w.step(sec(3));
    expect(w.status?.phase).not.toBe('Superseded');
  });

  it('does not take a release on a cell that is not Ready before it', () => {
    const w = new World(spec(), [cell('a', { ready: false, readyMessage: 'Kafka is not ready' }), cell('b')]);
    w.cells = [cell('a', { ready: false, readyMessage: 'Kafka is not ready' }), cell('b')];
    const d = decideRelease(w.facts(sec(0)));
    expect(d.actions).toEqual([]);
    expect(d.status.conditions?.find((c) => c.type === 'Gated')).toMatchObject({ status: 'True', reason: 'CellNotReady', message: expect.stringContaining('cell a is not Ready') });
  });

  it('says what only the cluster can tell: no cell, an unknown workload, steps beyond the cells', () => {
    expect(releaseProblem({ spec: spec({ cells: { selector: { matchLabels: { tier: 'x' } } } }), cells: five() })?.reason).toBe('NoCells');
    expect(releaseProblem({ spec: spec({ workloads: [{ name: 'nope', image: 'x' }] }), cells: five() })).toEqual({
      reason: 'UnknownWorkload',
      message: "spec.workloads[0].name: no selected cell has a workload named nope. Name a workload of the cells' spec.workloads.",
    });
    expect(releaseProblem({ spec: spec({ steps: [{ cells: 7 }] }), cells: five() })?.message).toMatch(/^spec.steps\[0\].cells: 7 cells, but only 5 are selected/);
    // Even when a newer release (not known to be invalid yet) selects the same cells.
    const d = decideRelease({ ...new World(spec({ steps: [{ cells: 7 }] })).facts(sec(0)), others: [{ name: 'r9', createdAt: sec(1), spec: {}, rolledBack: false }] });
    expect(d.status.phase).toBe('Pending');
    expect(d.status.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'StepsExceedCells' });
    expect(d.actions).toEqual([]);
  });

  it('estimates the end from the pace of the cells updated so far', () => {
    const w = new World(spec({ steps: [{ cells: '100%' }], bakeTime: '10s' }));
    w.step(sec(0));
    w.step(sec(0));
    w.step(sec(10)); // a: 10 s per cell, 4 cells left
    expect(w.status?.estimatedCompletionTime).toBe('2026-12-02T10:00:50Z');
  });
});
