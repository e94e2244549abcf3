// What a gateway does before it writes for a customer: ask the router (GET /v1/routes/{id}),
// wait out a 503 for as long as its Retry-After says, and treat a cell database's fence refusal
// as "ask the router again". Shared by the test writers and the e2e gateway writers.

export type RouteAnswer =
  | { kind: 'Route'; cell: string; epoch: number }
  /** 503 while the customer is fenced (or the index is loading): wait `retryAfterMs`. */
  | { kind: 'Retry'; retryAfterMs: number; reason: string }
  /** Anything else: 404, a 5xx without Retry-After, the router unreachable. */
  | { kind: 'Failed'; message: string };

/** One lookup, as a gateway makes it: no cache, the router's answer as it is. */
export async function lookupRoute(routerUrl: string, customer: string, signal?: AbortSignal): Promise<RouteAnswer> {
  let res: Response;
  try {
    res = await fetch(`${routerUrl}/v1/routes/${encodeURIComponent(customer)}`, signal ? { signal } : {});
  } catch (err) {
    return { kind: 'Failed', message: `router unreachable: ${(err as Error).message}` };
  }
  const text = await res.text();
  if (res.status === 200) {
    const body = JSON.parse(text) as { cell: string; epoch: number; state: string };
    return { kind: 'Route', cell: body.cell, epoch: body.epoch };
  }
  const retryAfter = res.headers.get('retry-after');
  if (res.status === 503 && retryAfter !== null) {
    const seconds = Number(retryAfter);
    const state = (() => {
      try {
        return (JSON.parse(text) as { state?: string; reason?: string }).state ?? (JSON.parse(text) as { reason?: string }).reason ?? 'Unavailable';
      } catch {
        return 'Unavailable';
      }
    })();
    return { kind: 'Retry', retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : 1000, reason: state };
  }
  return { kind: 'Failed', message: `router answered ${res.status}: ${text.slice(0, 200)}` };
}

/**
 * The cell database refused the customer's write because of a move's fence ("ask the router
 * again"): the enforced fence (src/data/cell-fence-sql.ts) raises SQLSTATE ZF001.
 */
export function isFenceRefusal(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && FENCE_REFUSAL_SQLSTATES.has(e.code)) return true;
  return /ask the router|is fenced|moved (?:out|in)|moving (?:out|in)/i.test(e.message ?? '');
}

/** The SQLSTATE the enforced fence raises. */
export const FENCE_REFUSAL_SQLSTATES = new Set<string>(['ZF001']);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
