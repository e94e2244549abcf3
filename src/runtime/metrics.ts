// Prometheus metrics of the runtime: reconciles by controller and result, errors, durations, queue
// depth and wait, watch restarts, and whether this replica leads. Own registry, so tests and two
// managers in one process do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkQueueObserver } from './work-queue.js';

export type ReconcileOutcome = 'success' | 'requeue' | 'error';

export interface RuntimeMetrics {
  registry: Registry;
  reconciles: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileDuration: Histogram<'controller'>;
  queueDepth: Gauge<'controller'>;
  queueWait: Histogram<'controller'>;
  watchRestarts: Counter<'resource' | 'reason'>;
  leader: Gauge;
}

export function createMetrics(options: { registry?: Registry; processMetrics?: boolean } = {}): RuntimeMetrics {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({ name: 'cell_operator_reconcile_total', help: 'Reconciles by controller and result (success, requeue, error).', labelNames: ['controller', 'result'], registers }),
    reconcileErrors: new Counter({ name: 'cell_operator_reconcile_errors_total', help: 'Reconciles that failed and will be retried with backoff.', labelNames: ['controller'], registers }),
    reconcileDuration: new Histogram({
      name: 'cell_operator_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    queueDepth: new Gauge({ name: 'cell_operator_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['controller'], registers }),
    queueWait: new Histogram({
      name: 'cell_operator_workqueue_wait_seconds',
      help: 'Time a key waited in the queue before its reconcile started.',
      labelNames: ['controller'],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    }),
    watchRestarts: new Counter({ name: 'cell_operator_watch_restarts_total', help: 'Watch restarts by resource and reason (gone: re-listed after 410; error: after a backoff).', labelNames: ['resource', 'reason'], registers }),
    leader: new Gauge({ name: 'cell_operator_leader', help: '1 while this replica holds the leader Lease.', registers }),
  };
}

/** Feeds a controller's work-queue depth and wait times into the metrics. */
export function queueObserver(metrics: RuntimeMetrics, controller: string): WorkQueueObserver {
  return {
    depth: (waiting) => metrics.queueDepth.set({ controller }, waiting),
    waited: (ms) => metrics.queueWait.observe({ controller }, ms / 1000),
  };
}
