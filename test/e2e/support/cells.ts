// What the Cell e2e tests share: reading Cells and their conditions, waiting on them, deleting them
// (the operator must be running to release the finalizer), reading the operator's metrics, and
// the API server's audit log (who wrote what).
import { readFileSync, statSync } from 'node:fs';
import { e2eEnv, kubectl, kubectlJson, waitFor } from './kube.js';
import type { OperatorProcess } from './operator.js';

export const CELL_FINALIZER = 'cells.platform.io/cell-protection';
export const FIELD_MANAGER = 'cell-operator';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_CELL = 'cells.platform.io/cell';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export interface LiveCell {
  metadata: {
    name: string;
    uid: string;
    generation: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
  };
  spec: Record<string, unknown> & { region: string };
  status?: {
    phase?: string;
    observedGeneration?: number;
    conditions?: Condition[];
    message?: string;
    customers?: number;
    endpoints?: Record<string, string>;
  };
}

export interface LiveObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    generation?: number;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
    managedFields?: { manager?: string; operation?: string; subresource?: string }[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export async function getCell(name: string): Promise<LiveCell | undefined> {
  const result = await kubectl(['get', 'cell', name, '-o', 'json', '--ignore-not-found']);
  return result.stdout.trim() ? (JSON.parse(result.stdout) as LiveCell) : undefined;
}

export function condition(cell: LiveCell | undefined, type: string): Condition | undefined {
  return cell?.status?.conditions?.find((c) => c.type === type);
}

/** The status describes the current generation. */
export function observedCurrent(cell: LiveCell | undefined): boolean {
  return cell !== undefined && cell.status?.observedGeneration === cell.metadata.generation;
}

export function isReady(cell: LiveCell | undefined): boolean {
  return observedCurrent(cell) && condition(cell, 'Ready')?.status === 'True';
}

/** Waits until the Cell satisfies `predicate`; the timeout error shows its last status. */
export async function waitForCell(name: string, predicate: (cell: LiveCell) => boolean, description: string, timeoutMs = 60_000): Promise<LiveCell> {
  return waitFor(
    async () => {
      const cell = await getCell(name);
      if (cell && predicate(cell)) return cell;
      throw new Error(`Cell ${name}: ${cell ? JSON.stringify({ generation: cell.metadata.generation, status: cell.status }) : 'not found'}`);
    },
    { timeoutMs, intervalMs: 500, description: `Cell ${name} ${description}` },
  );
}

export async function waitForCellGone(name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await getCell(name)) === undefined, { timeoutMs, intervalMs: 500, description: `Cell ${name} to be deleted` });
}

/** `kubectl get <kinds> -n <namespace> -o json` (managedFields included), every item with its kind. */
export async function listObjects(namespace: string, kinds: string[], selector?: string): Promise<LiveObject[]> {
  const list = await kubectlJson<{ items: LiveObject[] }>(['get', kinds.join(','), '-n', namespace, '--show-managed-fields', ...(selector ? ['-l', selector] : [])]);
  return list.items;
}

export async function getObject(kind: string, name: string, namespace?: string): Promise<LiveObject | undefined> {
  const result = await kubectl(['get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'json', '--show-managed-fields', '--ignore-not-found']);
  return result.stdout.trim() ? (JSON.parse(result.stdout) as LiveObject) : undefined;
}

/**
 * Deletes Cells and waits until they are gone: the operator (which must be running) releases the
 * finalizer. After `timeoutMs` the finalizer is removed by hand, so that a failed test leaves no
 * undeletable Cell behind for the next one; then the namespaces of the cells go too.
 */
export async function deleteCells(names: string[], options: { timeoutMs?: number; namespaces?: boolean } = {}): Promise<void> {
  if (names.length === 0) return;
  await kubectl(['delete', 'cell', ...names, '--wait=false', '--ignore-not-found'], { allowFailure: true });
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (const name of names) {
    while ((await getCell(name)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    if (await getCell(name)) {
      await kubectl(['patch', 'cell', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
    }
  }
  if (options.namespaces !== false) {
    await kubectl(['delete', 'namespace', ...names.map((n) => `cell-${n}`), '--wait=false', '--ignore-not-found'], { allowFailure: true });
  }
}

/** Sum of a counter (or gauge) of the operator's /metrics, over the series matching `labels`. */
export async function metricSum(operator: OperatorProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { body } = await operator.get('/metrics');
  return parseMetric(body, name, labels).reduce((sum, s) => sum + s.value, 0);
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in the Prometheus text format. */
export function parseMetric(body: string, name: string, labels: Record<string, string> = {}): Sample[] {
  const samples: Sample[] = [];
  for (const line of body.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const parsed: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) parsed[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => parsed[k] === v)) samples.push({ labels: parsed, value: Number(match[3]) });
  }
  return samples;
}

export interface AuditEvent {
  verb: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  /** When the request completed (RFC 3339 with microseconds). */
  stageTimestamp: string;
}

export const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** A position in the audit log: events after it are read by `auditEventsSince`. */
export function auditMark(): { file: string; offset: number } | undefined {
  const file = e2eEnv().auditLog;
  if (!file) return undefined;
  return { file, offset: statSync(file).size };
}

/** The audit events logged after `mark` (the local API server writes one JSON object a line). */
export function auditEventsSince(mark: { file: string; offset: number }): AuditEvent[] {
  const text = readFileSync(mark.file);
  // The log rotates at 200 MB; a smaller file than the mark means it rotated: read it all.
  const fresh = text.length >= mark.offset ? text.subarray(mark.offset) : text;
  return fresh
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as AuditEvent);
}

export function describeAudit(e: AuditEvent): string {
  const o = e.objectRef ?? {};
  return `${e.verb} ${o.resource ?? '?'}${o.subresource ? `/${o.subresource}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name ?? ''} -> ${e.responseStatus?.code ?? '?'}`;
}

/**
 * Waits until none of `namespaces` is terminating (an earlier run's cleanup may still be going):
 * nothing can be created in a namespace that is being deleted.
 */
export async function waitNamespacesSettled(namespaces: string[], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      for (const ns of namespaces) {
        const live = await getObject('namespace', ns);
        if (live?.metadata.deletionTimestamp) throw new Error(`namespace ${ns} is still terminating`);
      }
      return true;
    },
    { timeoutMs, intervalMs: 1000, description: `namespaces ${namespaces.join(', ')} to finish terminating` },
  );
}
