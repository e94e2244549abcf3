// What a Cell runs under the CellReleases that reached it: the Cell's own spec, with the workload
// versions of every release whose status names the cell as reached (the oldest first, so the
// newest wins and a rolled-back release leaves the one before it in place). Pure; the Cell's spec
// stays what people or Git wrote, the builders get the overlaid copy.
import type { Cell, CellStatus, WorkloadSpec } from '../../crds/cell.js';
import { RELEASE_APPLIED_STATES, releaseVersion, type CellRelease, type ReleaseWorkload } from '../../crds/cell-release.js';
import { kubeTime } from '../../runtime/kube-time.js';

export interface ReleaseRef {
  name: string;
  version: string;
}

export interface Overlay {
  /** The Cell with the releases' versions in spec.workloads (metadata and the rest untouched). */
  cell: Cell;
  /** The newest release applied to the cell; undefined when the cell runs its own spec. */
  release?: ReleaseRef;
}

const created = (r: CellRelease) => r.metadata.creationTimestamp ? new Date(r.metadata.creationTimestamp).getTime() : 0;

/** The releases that reached `cellName` and are not withdrawn from it, oldest first. */
export function releasesOn(cellName: string, releases: readonly CellRelease[]): CellRelease[] {
  return releases
    // A release being deleted keeps its versions until its status withdraws them (in waves).
    .filter((r) => r.status?.cells?.some((e) => e.name === cellName && RELEASE_APPLIED_STATES.has(e.state)))
    .sort((a, b) => created(a) - created(b) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

function overlayWorkload(w: WorkloadSpec, r: ReleaseWorkload): WorkloadSpec {
  const env = r.env ? [...(w.env ?? []).filter((e) => !r.env?.some((x) => x.name === e.name)), ...r.env] : w.env;
  return {
    ...w,
    ...(r.image !== undefined ? { image: r.image } : {}),
    ...(r.args !== undefined ? { args: r.args } : {}),
    ...(r.resources !== undefined ? { resources: r.resources } : {}),
    ...(env !== undefined ? { env } : {}),
  };
}

export function overlayReleases(cell: Cell, releases: readonly CellRelease[]): Overlay {
  const on = releasesOn(cell.metadata.name ?? '', releases);
  if (on.length === 0 || !cell.spec.workloads) return { cell };
  let workloads = cell.spec.workloads;
  for (const r of on) {
    workloads = workloads.map((w) => {
      const change = r.spec.workloads.find((x) => x.name === w.name);
      return change ? overlayWorkload(w, change) : w;
    });
  }
  const newest = on[on.length - 1] as CellRelease;
  return { cell: { ...cell, spec: { ...cell.spec, workloads } }, release: { name: newest.metadata.name ?? '', version: releaseVersion(newest) } };
}

/**
 * status.release of the Cell: the release its Deployments carry. While they do not carry the
 * desired versions yet (`carried` false: a rollout or a rollback on its way), the previous answer
 * stands; `since` moves only when the release or its version changes.
 */
export function runningRelease(previous: CellStatus['release'], applied: ReleaseRef | undefined, carried: boolean, now: Date): CellStatus['release'] {
  if (!carried) return previous;
  if (!applied) return undefined;
  if (previous && previous.name === applied.name && previous.version === applied.version) return previous;
  return { ...applied, since: kubeTime(now) };
}
