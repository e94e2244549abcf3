// Prometheus metrics of customer moves: rows and bytes copied, time spent in each state, how long
// customers stay fenced, failures by reason, and retried errors.
import { Counter, Histogram, type Registry } from 'prom-client';

export class MoveMetrics {
  readonly rowsCopied: Counter<'direction'>;
  readonly bytesCopied: Counter<'direction'>;
  readonly stateSeconds: Histogram<'state'>;
  readonly fenceSeconds: Histogram;
  readonly failures: Counter<'reason'>;
  readonly retries: Counter;
  readonly kafkaDrainSeconds: Histogram;
  readonly kafkaDrainMessages: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
    this.rowsCopied =
      existing('cell_operator_move_rows_copied_total') ??
      new Counter({ name: 'cell_operator_move_rows_copied_total', help: 'Rows copied between cells by customer moves.', labelNames: ['direction'], registers });
    this.bytesCopied =
      existing('cell_operator_move_bytes_copied_total') ??
      new Counter({ name: 'cell_operator_move_bytes_copied_total', help: 'COPY bytes streamed between cells by customer moves.', labelNames: ['direction'], registers });
    this.stateSeconds =
      existing('cell_operator_move_state_duration_seconds') ??
      new Histogram({
        name: 'cell_operator_move_state_duration_seconds',
        help: 'Time a customer move spent in each state.',
        labelNames: ['state'],
        buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600, 86400],
        registers,
      });
    this.fenceSeconds =
      existing('cell_operator_move_fence_seconds') ??
      new Histogram({
        name: 'cell_operator_move_fence_seconds',
        help: 'How long a customer was fenced (writes answered 503) during its cut-over.',
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      });
    this.failures =
      existing('cell_operator_move_failures_total') ??
      new Counter({ name: 'cell_operator_move_failures_total', help: 'Customer moves failed and rolled back, by reason.', labelNames: ['reason'], registers });
    this.retries =
      existing('cell_operator_move_retried_errors_total') ??
      new Counter({ name: 'cell_operator_move_retried_errors_total', help: 'Transient errors of customer moves, retried.', registers });
    this.kafkaDrainSeconds =
      existing('cell_operator_move_kafka_drain_seconds') ??
      new Histogram({
        name: 'cell_operator_move_kafka_drain_seconds',
        help: 'Under the fence, how long the source cell\'s ingestion group took to consume the customer\'s messages produced before it.',
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      });
    this.kafkaDrainMessages =
      existing('cell_operator_move_kafka_drained_messages_total') ??
      new Counter({ name: 'cell_operator_move_kafka_drained_messages_total', help: 'Messages the source cell\'s ingestion group still had to consume when a fence recorded its end offsets.', registers });
  }
}
