// The CellRelease reconciler, a thin shell: reads the release, the Cells and the other releases
// from the caches, runs the analyses that are due, asks the pure decider, writes the status (the
// release's journal: the Cell controller overlays the versions on the cells it names) under an
// optimistic lock, then records one event per action. A stale cache loses the lock and the
// reconcile runs again on the fresh object, so a decision is never taken twice from an old journal.
import { getCondition } from '../../runtime/conditions.js';
import { addFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../../runtime/finalizers.js';
import type { Cell } from '../../crds/cell.js';
import { parseCellReleaseSpec, releaseVersion, type CellRelease, type CellReleaseStatus } from '../../crds/cell-release.js';
import { CELL_RELEASE_RESOURCE } from '../../crds/resources.js';
import type { Logger } from '../../log.js';
import type { Informer } from '../../runtime/informer.js';
import { isConflict } from '../../runtime/kube-client.js';
import { statusChanged, writeStatus } from '../../runtime/status.js';
import type { ReconcileResult } from '../../runtime/work-queue.js';
import { analysisQuery, queryPrometheus } from './release-analysis.js';
import { analysesDue, decideRelease, type AnalysisResult, type ObservedCell, type ReleaseAction } from './release-decision.js';
import { dateClock } from '../../runtime/clock.js';
import type { ReconcilerDeps } from '../reconciler-deps.js';

export interface ReleaseReconcilerDeps extends Omit<ReconcilerDeps, 'store'> {
  releases: Pick<Informer<CellRelease>, 'get' | 'list'>;
  cells: Pick<Informer<Cell>, 'list'>;
  log: Logger;
  /** The Prometheus query of an analysis; tests give their own. */
  prometheus?: typeof queryPrometheus;
}

/** Keeps a deleted CellRelease until its versions are withdrawn from every cell it reached, in waves. */
export const RELEASE_FINALIZER = 'cells.platform.io/release-rollback';

/** A lost optimistic lock (the cache was behind our own write): run again shortly on the fresh object. */
const CONFLICT_REQUEUE_MS = 500;

export function observeCell(cell: Cell): ObservedCell {
  const ready = getCondition(cell.status?.conditions as never, 'Ready');
  const current = cell.status?.observedGeneration === cell.metadata.generation;
  const running = cell.status?.release;
  return {
    name: cell.metadata.name ?? '',
    labels: cell.metadata.labels ?? {},
    workloads: (cell.spec.workloads ?? []).map((w) => w.name),
    ready: current && ready?.status === 'True' && !cell.metadata.deletionTimestamp,
    ...(ready && ready.status !== 'True' ? { readyMessage: ready.message } : !current ? { readyMessage: 'its status does not describe its current spec yet' } : {}),
    ...(running ? { running: { name: running.name, version: running.version } } : {}),
  };
}

export class ReleaseReconciler {
  private readonly now: () => Date;
  private readonly prometheus: typeof queryPrometheus;

  constructor(private readonly deps: ReleaseReconcilerDeps) {
    this.now = dateClock(deps.clock);
    this.prometheus = deps.prometheus ?? queryPrometheus;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const release = this.deps.releases.get(key);
    if (!release) return;
    const log = this.deps.log.child({ release: key });
    const deleting = isBeingDeleted(release);
    // Deleting a release withdraws its versions in waves, the last reached cell first, as an abort does.
    if (deleting && !hasFinalizer(release, RELEASE_FINALIZER)) return;
    if (!deleting) {
      try {
        if (await addFinalizer(this.deps.client, CELL_RELEASE_RESOURCE, release, RELEASE_FINALIZER)) return;
      } catch (err) {
        // The cache was behind our own write (the patch is guarded by resourceVersion): read again.
        if (isConflict(err)) return { requeueAfter: CONFLICT_REQUEUE_MS };
        throw err;
      }
    }
    const parsed = parseCellReleaseSpec(release.spec);
    if (!parsed.ok) {
      log.error({ errors: parsed.errors }, 'the release spec does not parse; the API server should have refused it');
      return;
    }
    const spec = parsed.value;
    const cells = this.deps.cells.list();
    const others = this.deps.releases
      .list()
      .filter((r) => r.metadata.name !== key && !r.metadata.deletionTimestamp)
      .map((r) => ({ name: r.metadata.name ?? '', createdAt: created(r), spec: r.spec, rolledBack: r.status?.phase === 'Failed' || r.status?.phase === 'Aborted',
        invalid: r.status?.conditions?.some((c) => c.type === 'Valid' && c.status === 'False') ?? false,
      }));

    const analyses = new Map<string, AnalysisResult>();
    if (spec.analysis) {
      const analysis = spec.analysis;
      const due = analysesDue(spec, release.status, this.now());
      await Promise.all(
        due.map(async (name) => {
          const cell = cells.find((c) => c.metadata.name === name);
          const namespace = cell?.status?.namespace ?? `cell-${name}`;
          const bounds = { ...(analysis.min !== undefined ? { min: analysis.min } : {}), ...(analysis.max !== undefined ? { max: analysis.max } : {}) };
          analyses.set(name, await this.prometheus(analysis.prometheusUrl, analysisQuery(analysis.query, name, namespace), bounds, this.now));
        }),
      );
    }

    const decision = decideRelease({
      name: key,
      ...(release.metadata.generation !== undefined ? { generation: release.metadata.generation } : {}),
      createdAt: created(release),
      spec,
      version: releaseVersion(release),
      ...(release.status ? { status: release.status } : {}),
      cells: cells.map(observeCell),
      others,
      analyses,
      deleting,
      now: this.now(),
    });

    const withdrawn = !(decision.status.cells ?? []).some((e) => e.state !== 'RolledBack');
    if (deleting && withdrawn) {
      await removeFinalizer(this.deps.client, CELL_RELEASE_RESOURCE, release, RELEASE_FINALIZER);
      log.info('release deleted: every cell it reached runs its previous versions again');
      return;
    }
    if (statusChanged(release.status, decision.status)) {
      if ((await writeStatus(this.deps.client, CELL_RELEASE_RESOURCE, release, decision.status)) === 'conflict') return { requeueAfter: CONFLICT_REQUEUE_MS };
      await this.record(release, decision.actions, release.status?.phase, decision.status);
      if (decision.actions.length > 0) log.info({ actions: decision.actions.map((a) => `${a.kind} ${a.cell}`), phase: decision.status.phase }, 'release moved');
    }
    return decision.requeueAfterMs !== undefined ? { requeueAfter: decision.requeueAfterMs } : undefined;
  }

  private async record(release: CellRelease, actions: ReleaseAction[], before: string | undefined, status: CellReleaseStatus): Promise<void> {
    const obj = release;
    for (const a of actions) {
      if (a.kind === 'Reach') await this.deps.events.normal(obj, 'CellReached', `Cell ${a.cell} gets version ${status.version}.`);
      else if (a.kind === 'Ready') await this.deps.events.normal(obj, 'CellReady', `Cell ${a.cell} is Ready with version ${status.version}; its bake starts.`);
      else if (a.kind === 'Updated') await this.deps.events.normal(obj, 'CellUpdated', `Cell ${a.cell} runs version ${status.version}, baked.`);
      else if (a.kind === 'Fail') await this.deps.events.warning(obj, a.reason, a.message);
      else if (a.kind === 'RollBack') await this.deps.events.warning(obj, 'CellRollingBack', `Cell ${a.cell} goes back to its previous versions.`);
      else await this.deps.events.normal(obj, 'CellRolledBack', `Cell ${a.cell} runs its previous versions again.`);
    }
    if (before !== status.phase && status.phase) {
      const note = status.message ?? status.phase;
      if (status.phase === 'Failed' || status.phase === 'RollingBack') await this.deps.events.warning(obj, `Release${status.phase}`, note);
      else await this.deps.events.normal(obj, `Release${status.phase}`, note);
    }
  }
}

function created(r: CellRelease): Date {
  const t = r.metadata.creationTimestamp as unknown;
  return t ? new Date(t as string) : new Date(0);
}
