// `kubectl cells get CELL`: the cell and every child the operator keeps for it, as a tree with each
// child's health, like `kubectl argo rollouts get`. Pure: the expected children come from the Cell
// builders themselves (so the tree never disagrees with the operator), the observed objects come in.
import { desiredChildren } from '../controllers/cell/cell-children.js';
import { API_VERSION } from '../crds/group.js';
import { parseCellSpec } from '../crds/cell.js';
import { formatFieldErrors } from '../crds/parse.js';
import { cellReadiness } from './cells-status.js';
import type { ObservedCell } from './observed.js';
import { formatTable } from './text-table.js';

export type ChildHealth = 'Healthy' | 'Progressing' | 'Degraded' | 'Missing';

/** One child the operator keeps for the cell: where it is, and the object when it exists. */
export interface ObservedChild {
  kind: string;
  name: string;
  namespace?: string;
  object?: ChildObject;
}

/** What the health rules read of a child (any kind). */
export interface ChildObject {
  metadata?: { generation?: number; deletionTimestamp?: string };
  spec?: { replicas?: number };
  status?: {
    phase?: string;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    observedGeneration?: number;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

export interface ChildAssessment {
  health: ChildHealth;
  /** Why, for a person: `ready 1/3`, `NotReady: InvalidResourceException`. */
  detail: string;
}

/** Kinds whose health Strimzi reports in a Ready condition. */
const STRIMZI_READY = new Set(['Kafka', 'KafkaTopic', 'KafkaUser']);

/** The health of one child, from what its controller reports. */
export function assessChild(kind: string, object: ChildObject | undefined): ChildAssessment {
  if (!object) return { health: 'Missing', detail: 'not created yet (or deleted): the operator creates it on its next reconcile' };
  if (object.metadata?.deletionTimestamp) return { health: 'Progressing', detail: 'being deleted' };
  const status = object.status ?? {};
  if (kind === 'Deployment' || kind === 'StatefulSet') {
    const want = object.spec?.replicas ?? 1;
    const ready = status.readyReplicas ?? 0;
    const updated = status.updatedReplicas ?? 0;
    const stale = status.observedGeneration !== undefined && object.metadata?.generation !== undefined && status.observedGeneration < object.metadata.generation;
    if (!stale && ready >= want && updated >= want && (status.replicas ?? want) <= want) return { health: 'Healthy', detail: `ready ${ready}/${want}` };
    return { health: 'Progressing', detail: `ready ${ready}/${want}${updated < want ? `, updated ${updated}/${want}` : ''}${stale ? ', change not seen yet' : ''}` };
  }
  if (STRIMZI_READY.has(kind)) {
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return { health: 'Healthy', detail: 'Ready' };
    const notReady = status.conditions?.find((c) => c.type === 'NotReady' && c.status === 'True');
    const failed = ready?.status === 'False' ? ready : notReady;
    if (failed?.reason && failed.reason !== 'Creating') return { health: 'Degraded', detail: `NotReady: ${failed.reason}${failed.message ? ` (${firstLine(failed.message)})` : ''}` };
    return { health: 'Progressing', detail: 'waiting for Strimzi' };
  }
  if (kind === 'Namespace') {
    return status.phase === 'Terminating' ? { health: 'Progressing', detail: 'Terminating' } : { health: 'Healthy', detail: status.phase ?? 'Active' };
  }
  return { health: 'Healthy', detail: 'present' };
}

/**
 * The children the operator keeps for the cell, in the order it applies them; undefined with the
 * reason when the Cell's spec is not one the operator accepts. Built with the operator's own
 * builders; the Secret's content and the Kafka address do not change which children there are.
 */
export function expectedChildren(cell: ObservedCell): { children: ObservedChild[] } | { problem: string } {
  const parsed = parseCellSpec(cell.spec ?? {});
  if (!parsed.ok) return { problem: `the Cell's spec is invalid (${formatFieldErrors(parsed.errors)})` };
  const objects = desiredChildren(
    // The uid only goes into owner references, which the tree does not show.
    { apiVersion: API_VERSION, kind: 'Cell', metadata: { name: cell.metadata.name ?? '', uid: 'tree' }, spec: parsed.value },
    { operatorNamespace: 'cell-operator-system', kafkaBootstrap: undefined, databaseCredentials: { username: 'unused', password: 'unused' }, podMonitors: false },
  );
  return {
    children: objects.map((o) => ({ kind: o.kind ?? '', name: o.metadata?.name ?? '', ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}) })),
  };
}

const SYMBOL: Record<ChildHealth, string> = { Healthy: '✔', Progressing: '◌', Degraded: '✖', Missing: '✖' };

/** The tree: the cell's line, then a line per child with its health and why. */
export function renderCellTree(cell: ObservedCell, children: readonly ObservedChild[]): string[] {
  const readiness = cellReadiness(cell);
  const name = cell.metadata.name ?? '?';
  const phase = cell.status?.phase ?? 'Unknown';
  const head = `Cell ${name}  region ${cell.spec?.region ?? '?'}  state ${cell.spec?.state ?? 'Active'}  phase ${phase}  ${readiness.text}`;
  const lines = [head];
  if (readiness.message && !readiness.ready) lines.push(`  ${readiness.message}`);
  const rows = children.map((c, i) => {
    const a = assessChild(c.kind, c.object);
    return [`${i === children.length - 1 ? '└─' : '├─'} ${c.kind}`, c.namespace ? `${c.namespace}/${c.name}` : c.name, `${SYMBOL[a.health]} ${a.health}`, a.detail];
  });
  lines.push(...formatTable(['CHILD', 'NAME', 'HEALTH', 'DETAIL'], rows));
  const counts = new Map<ChildHealth, number>();
  for (const c of children) {
    const h = assessChild(c.kind, c.object).health;
    counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  const summary = (['Healthy', 'Progressing', 'Degraded', 'Missing'] as const).filter((h) => counts.get(h)).map((h) => `${counts.get(h)} ${h}`);
  lines.push(`${children.length} children: ${summary.join(', ') || 'none'}`);
  return lines;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
