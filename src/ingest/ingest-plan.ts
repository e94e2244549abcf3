// What the ingestion worker does with a batch of messages from its cell's topic, given where each
// customer lives now: write here, forward to the customer's current cell, set aside as malformed,
// or wait (the router cannot say). Pure: the routes come in.
import type { RouteAnswer } from '../kafka/route-client.js';
import type { TelemetryMessage } from '../kafka/telemetry-message.js';

export interface Forward {
  cell: string;
  bootstrap: string;
  messages: TelemetryMessage[];
}

export interface IngestPlan {
  write: TelemetryMessage[];
  forward: Forward[];
  /** Messages that can never be written (malformed, unknown customer), with the reason. */
  deadLetter: { message: TelemetryMessage | undefined; raw: Buffer | null; reason: string }[];
  /** Customers whose route the router could not give: the batch is retried, nothing committed. */
  undecided: string[];
}

export type Decoded = { ok: true; message: TelemetryMessage } | { ok: false; problem: string; raw: Buffer | null };

/**
 * `cell` is this worker's cell. A customer that lives here (Active, or Fenced for its cut-over: the
 * move waits for exactly these messages before its final sync) is written here; one that lives
 * elsewhere (Active there) is forwarded there; a fenced one that does not live here waits.
 */
export function planBatch(cell: string, decoded: readonly Decoded[], routes: ReadonlyMap<string, RouteAnswer>): IngestPlan {
  const plan: IngestPlan = { write: [], forward: [], deadLetter: [], undecided: [] };
  const forwards = new Map<string, Forward>();
  const undecided = new Set<string>();
  for (const d of decoded) {
    if (!d.ok) {
      plan.deadLetter.push({ message: undefined, raw: d.raw, reason: d.problem });
      continue;
    }
    const m = d.message;
    const route = routes.get(m.customer);
    if (!route || route.kind === 'Unavailable') {
      undecided.add(m.customer);
      continue;
    }
    if (route.kind === 'Fenced') {
      // Fenced for its cut-over: written here when it still lives here (the move's Kafka drain waits
      // for exactly these messages), else held until the router names its cell.
      if (route.inCell === true) plan.write.push(m);
      else undecided.add(m.customer);
      continue;
    }
    if (route.kind === 'NotFound') {
      plan.deadLetter.push({ message: m, raw: null, reason: `customer ${m.customer} is not placed in any cell` });
      continue;
    }
    if (route.cell === cell) {
      plan.write.push(m);
      continue;
    }
    if (!route.kafkaBootstrap) {
      undecided.add(m.customer); // its cell has no Kafka address yet: wait for one
      continue;
    }
    let f = forwards.get(route.cell);
    if (!f) {
      f = { cell: route.cell, bootstrap: route.kafkaBootstrap, messages: [] };
      forwards.set(route.cell, f);
    }
    f.messages.push(m);
  }
  plan.forward = [...forwards.values()];
  plan.undecided = [...undecided];
  return plan;
}
