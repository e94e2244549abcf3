// What `kubectl cells cordon|uncordon|drain CELL` writes, decided from the Cell as read: a merge
// patch of spec.state, a drain Migration to create, nothing to do (said why), or a refusal.
import { API_VERSION } from '../crds/group.js';
import { DRAIN_MOVE_BATCH } from '../crds/migration.js';
import type { ObservedCell } from './observed.js';
import type { Decision } from './decision.js';

export interface CellPatch {
  spec: { state: 'Active' | 'Cordoned' };
}

export type CellDecision = Decision<CellPatch>;

const nameOf = (c: ObservedCell): string => c.metadata.name ?? '<name>';

/** Cordon: spec.state Cordoned; the cell keeps its customers and receives no new ones. */
export function cordonPatch(cell: ObservedCell): CellDecision {
  const name = nameOf(cell);
  const state = cell.spec?.state ?? 'Active';
  if (state === 'Cordoned') return { kind: 'noop', message: `cell ${name} is already cordoned (spec.state: Cordoned).` };
  if (state === 'Draining') return { kind: 'refuse', message: `cell ${name} is Draining (spec.state): it already takes no new customer; set spec.state to Cordoned in Git to keep its customers instead.` };
  return {
    kind: 'patch',
    patch: { spec: { state: 'Cordoned' } },
    done: `cell ${name} cordoned: it keeps its customers and receives no new ones. If Git manages it, commit spec.state: Cordoned too, or the next sync lifts it. Undo with: kubectl cells uncordon ${name}`,
  };
}

/** Uncordon: spec.state Active again. A drain's cordon is lifted by aborting or deleting its Migration, not here. */
export function uncordonPatch(cell: ObservedCell): CellDecision {
  const name = nameOf(cell);
  const state = cell.spec?.state ?? 'Active';
  const drainCordon = cell.status?.conditions?.find((c) => c.type === 'Cordoned' && c.status === 'True' && c.reason === 'DrainingByMigration');
  if (state === 'Active') {
    return drainCordon
      ? { kind: 'refuse', message: `cell ${name} is cordoned by a drain: ${drainCordon.message ?? ''}`.trim() }
      : { kind: 'noop', message: `cell ${name} is not cordoned (spec.state: Active).` };
  }
  return {
    kind: 'patch',
    patch: { spec: { state: 'Active' } },
    done: `cell ${name} uncordoned (spec.state: Active): it receives new customers again once Ready.`,
  };
}

/** The Migration `kubectl cells drain CELL --to TARGET` creates: every customer, canary first. */
export function drainMigration(cell: string, to: string): { apiVersion: string; kind: 'Migration'; metadata: { name: string; labels: Record<string, string> }; spec: Record<string, unknown> } {
  return {
    apiVersion: API_VERSION,
    kind: 'Migration',
    metadata: { name: `drain-${cell}`.slice(0, 253), labels: { 'cells.platform.io/drain': cell } },
    spec: {
      from: cell,
      to,
      customers: { all: true },
      order: 'SmallestFirst',
      // One canary, a look at it, a tenth, then a person decides the rest.
      steps: [{ move: 1 }, { pause: { duration: '10m' } }, { move: '10%' }, { pause: {} }, { move: '100%' }],
      // A whole cell's customers: the small ones in groups (src/data/move-batch.ts), each executor up to 20.
      batchSize: DRAIN_MOVE_BATCH,
    },
  };
}

/** Refusals of a drain that the API server would not catch: a target that is the cell, or a missing target. */
export function drainProblem(cell: ObservedCell, target: ObservedCell | undefined, to: string): string | undefined {
  const name = nameOf(cell);
  if (to === name) return `cannot drain cell ${name} into itself: --to names the cell that receives its customers.`;
  if (!target) return `cell ${to} not found (kubectl get cells lists them): --to names the cell that receives the customers of ${name}.`;
  if (target.spec?.region && cell.spec?.region && target.spec.region !== cell.spec.region) {
    return `cell ${to} is in region ${target.spec.region}, cell ${name} in ${cell.spec.region}: customers bound to a region cannot leave it; drain into a cell of ${cell.spec.region}.`;
  }
  return undefined;
}
