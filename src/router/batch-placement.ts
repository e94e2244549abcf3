// POST /v1/customers:batch — bulk onboarding: NDJSON requests streamed in, one NDJSON result per
// input line streamed out (in input order), then a summary line. Lines are placed in chunks, one
// transaction each (placeCustomers), so a chunk is all or nothing. A chunk that keeps failing on
// a database outage is reported as Failed/retryable and the rest of the body is not processed:
// the summary says from which line to resume (re-sending earlier lines is harmless: placement is
// idempotent).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'pg';
import type { Logger } from '../log.js';
import type { PlacementRequest, PlacementStrategy } from '../store/placement-decision.js';
import { validatePlacementRequest } from '../store/placement-request.js';
import { retryWithBackoff } from '../runtime/backoff.js';
import { isTransientDatabaseError } from '../store/database-errors.js';
import { type Placement, placeCustomers, type PlaceResult } from '../store/placements.js';
import { drained } from './drained.js';
import type { RouterMetrics } from './router-metrics.js';


/** What a line that could not be placed says: a reason a client can act on, no database text. */
export const BATCH_FAILURE = {
  unavailable: 'the control-plane database is unreachable: send this line again later',
  internal: 'internal error placing this line (logged by the router): send it again, or report it',
} as const;

export interface BatchOptions {
  pool: Pool;
  strategy: PlacementStrategy;
  log: Logger;
  metrics: RouterMetrics;
  /** Lines per transaction. Default 5,000. */
  chunkSize?: number;
  maxLineBytes?: number;
  /** Called with each chunk's new placements, in order (the router applies its own writes). */
  onCreated?: (placements: Placement[]) => void;
  /** Attempts per chunk on transient database errors, with doubling backoff from retryBaseMs. */
  retryAttempts?: number;
  retryBaseMs?: number;
}

type Status = PlaceResult['status'] | 'Failed';

interface Pending {
  line: number;
  request?: PlacementRequest;
  /** Set when the line was refused before reaching the store. */
  result?: Record<string, unknown>;
}

const NEWLINE = 0x0a;

function resultLine(line: number, r: PlaceResult): string {
  switch (r.status) {
    case 'Created':
    case 'Existing': {
      const p = r.placement;
      const out: Record<string, unknown> = { line, customer: p.customerId, status: r.status, cell: p.cell, epoch: p.epoch, state: p.state };
      if (r.status === 'Existing' && r.differences.length) out.differences = r.differences;
      return JSON.stringify(out);
    }
    case 'Unschedulable':
      return JSON.stringify({ line, customer: r.customerId, status: r.status, reason: r.reason });
    case 'Invalid':
      return JSON.stringify({ line, customer: r.customerId, status: r.status, problems: r.problems });
  }
}

export async function handleBatch(req: IncomingMessage, res: ServerResponse, options: BatchOptions): Promise<void> {
  const chunkSize = options.chunkSize ?? 5000;
  const maxLine = options.maxLineBytes ?? 64 * 1024;
  const attempts = options.retryAttempts ?? 5;
  const baseMs = options.retryBaseMs ?? 200;
  const counts: Record<Status, number> = { Created: 0, Existing: 0, Invalid: 0, Unschedulable: 0, Failed: 0 };
  let lineNo = 0;
  let aborted: { reason: string; resumeFromLine: number } | undefined;
  let clientGone = false;
  res.on('close', () => {
    if (!res.writableFinished) clientGone = true;
  });

  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const write = async (text: string): Promise<void> => {
    if (!res.write(text)) await drained(res);
  };

  type Outcome = { results: PlaceResult[] } | { failure: string };
  const place = async (toPlace: Pending[]): Promise<Outcome> => {
    if (clientGone) return { failure: 'client went away' };
    try {
      const results = await retryWithBackoff(() => placeCustomers(options.pool, toPlace.map((p) => p.request as PlacementRequest), { strategy: options.strategy }), {
        policy: { baseMs, maxMs: 30_000 },
        retryable: (err) => isTransientDatabaseError(err) && !clientGone,
        attempts,
        onRetry: (err, attempt) => options.log.warn({ err: (err as Error).message, attempt, firstLine: toPlace[0]?.line }, 'batch chunk failed; retrying'),
      });
      return { results };
    } catch (err) {
      // The client sees a classified reason, never the database's own message (names, SQL); the log has it.
      options.log.error({ err: (err as Error).message, firstLine: toPlace[0]?.line }, 'batch chunk failed');
      return { failure: isTransientDatabaseError(err) ? BATCH_FAILURE.unavailable : BATCH_FAILURE.internal };
    }
  };
  const report = async (batch: Pending[], outcome: Outcome): Promise<void> => {
    if ('results' in outcome && options.onCreated) {
      options.onCreated(outcome.results.flatMap((r) => (r.status === 'Created' ? [r.placement] : [])));
    }
    let out = '';
    let k = 0;
    for (const p of batch) {
      if (p.result) {
        out += `${JSON.stringify(p.result)}\n`;
        counts.Invalid++;
        continue;
      }
      const r = 'results' in outcome ? outcome.results[k++] : undefined;
      if (r) {
        counts[r.status]++;
        options.metrics.placements.labels(r.status, 'batch').inc();
        out += `${resultLine(p.line, r)}\n`;
      } else {
        counts.Failed++;
        const reason = 'failure' in outcome ? outcome.failure : 'not attempted';
        out += `${JSON.stringify({ line: p.line, customer: p.request?.customerId, status: 'Failed', retryable: true, reason })}\n`;
      }
    }
    if ('failure' in outcome) {
      const first = batch.find((p) => p.request);
      if (first && (!aborted || first.line < aborted.resumeFromLine)) aborted = { reason: outcome.failure, resumeFromLine: first.line };
    }
    await write(out);
  };

  // Up to two chunks in the database at once (the second decides while the first inserts);
  // results are written in input order.
  let pending: Pending[] = [];
  const inFlight: Promise<void>[] = [];
  let lastReport: Promise<void> = Promise.resolve();
  const flush = (): void => {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const toPlace = batch.filter((p) => p.request);
    const placing: Promise<Outcome> = toPlace.length > 0 ? place(toPlace) : Promise.resolve({ results: [] });
    lastReport = lastReport.then(async () => report(batch, await placing));
    inFlight.push(lastReport);
  };
  const settle = async (keep: number): Promise<void> => {
    while (inFlight.length > keep) await inFlight.shift();
  };

  const onLine = (bytes: Buffer): void => {
    lineNo++;
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      pending.push({ line: lineNo, result: { line: lineNo, status: 'Invalid', problems: ['not a JSON object'] } });
      return;
    }
    const v = validatePlacementRequest(parsed);
    if (v.ok) pending.push({ line: lineNo, request: v.request });
    else {
      const customer = typeof parsed === 'object' && parsed !== null ? (parsed as { customer?: unknown }).customer : undefined;
      pending.push({ line: lineNo, result: { line: lineNo, customer: typeof customer === 'string' ? customer : undefined, status: 'Invalid', problems: v.problems } });
    }
  };

  let carry: Buffer | undefined;
  let overlong = false;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (clientGone) break;
      if (aborted) continue; // read and drop the rest of the body so that the client gets the answer
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
        const piece = chunk.subarray(start, nl);
        start = nl + 1;
        if (overlong) {
          overlong = false;
          lineNo++;
          pending.push({ line: lineNo, result: { line: lineNo, status: 'Invalid', problems: [`line longer than ${maxLine} bytes`] } });
          carry = undefined;
        } else {
          onLine(carry ? Buffer.concat([carry, piece]) : piece);
          carry = undefined;
        }
        if (pending.length >= chunkSize) {
          await settle(1);
          if (aborted || clientGone) break;
          flush();
        }
        if (aborted || clientGone) break;
      }
      if (aborted || clientGone) continue;
      if (start < chunk.length && !overlong) {
        const rest = chunk.subarray(start);
        carry = carry ? Buffer.concat([carry, rest]) : Buffer.from(rest); // copy: the chunk is reused
        if (carry.length > maxLine) {
          overlong = true;
          carry = undefined;
        }
      }
    }
    await settle(0);
    if (!aborted && !clientGone) {
      if (overlong) {
        lineNo++;
        pending.push({ line: lineNo, result: { line: lineNo, status: 'Invalid', problems: [`line longer than ${maxLine} bytes`] } });
      } else if (carry) onLine(carry);
      flush();
      await settle(0);
    }
  } catch (err) {
    await settle(0).catch(() => undefined);
    aborted ??= { reason: `reading the request failed: ${(err as Error).message}`, resumeFromLine: lineNo + 1 };
  }
  if (clientGone) return;
  const summary: Record<string, unknown> = { summary: { lines: lineNo, ...counts }, complete: !aborted };
  if (aborted) summary.aborted = aborted;
  res.end(`${JSON.stringify(summary)}\n`);
}
