// The analysis of a baking cell: one instant query to a Prometheus HTTP API (GET /api/v1/query),
// the cell's name and namespace put into the query, every sample judged against the bounds. The
// judging is pure (judgeAnswer); only queryPrometheus does I/O. An empty result, an error answer or
// an unreachable server is Inconclusive: it holds the bake, it never fails a cell.
import type { AnalysisResult } from './release-decision.js';

export interface AnalysisBounds {
  min?: number;
  max?: number;
}

/** The query with {{cell}} and {{namespace}} replaced. */
export function analysisQuery(query: string, cell: string, namespace: string): string {
  return query.replaceAll('{{cell}}', cell).replaceAll('{{namespace}}', namespace);
}

type Judged = Omit<AnalysisResult, 'at'>;

/** Judges a Prometheus /api/v1/query answer: every sample within the bounds passes. */
export function judgeAnswer(answer: unknown, bounds: AnalysisBounds): Judged {
  const body = answer as { status?: string; error?: string; data?: { resultType?: string; result?: unknown } } | undefined;
  if (body?.status !== 'success' || !body.data) return { result: 'Inconclusive', message: `Prometheus answered ${body?.status ?? 'nothing'}: ${body?.error ?? 'no data'}` };
  const { resultType, result } = body.data;
  let samples: { labels: string; value: number }[];
  if (resultType === 'scalar') samples = [{ labels: 'scalar', value: Number((result as [number, string])[1]) }];
  else if (resultType === 'vector') {
    samples = (result as { metric?: Record<string, string>; value: [number, string] }[]).map((s) => ({
      labels: JSON.stringify(s.metric ?? {}),
      value: Number(s.value[1]),
    }));
  } else return { result: 'Inconclusive', message: `the query gave a ${resultType}; an instant vector or a scalar is needed` };
  if (samples.length === 0) return { result: 'Inconclusive', message: 'the query returned no sample' };
  const out = samples.filter((s) => Number.isNaN(s.value) || (bounds.min !== undefined && s.value < bounds.min) || (bounds.max !== undefined && s.value > bounds.max));
  const range = [bounds.min !== undefined ? `>= ${bounds.min}` : '', bounds.max !== undefined ? `<= ${bounds.max}` : ''].filter(Boolean).join(' and ');
  if (out.length > 0) return { result: 'Failed', message: `${out.length} sample(s) not ${range}: ${out.slice(0, 3).map((s) => `${s.labels} = ${s.value}`).join(', ')}` };
  return { result: 'Passed', message: `${samples.length} sample(s) ${range}: ${samples.slice(0, 3).map((s) => s.value).join(', ')}` };
}

/** Runs the query against `baseUrl` and judges it; never throws. */
export async function queryPrometheus(baseUrl: string, query: string, bounds: AnalysisBounds, now: () => Date, timeoutMs = 5_000): Promise<AnalysisResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/query?${new URLSearchParams({ query }).toString()}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const answer: unknown = await response.json().catch(() => undefined);
    return { ...judgeAnswer(answer ?? { status: `HTTP ${response.status}` }, bounds), at: now() };
  } catch (err) {
    return { result: 'Inconclusive', message: `cannot reach Prometheus at ${baseUrl}: ${(err as Error).message}`, at: now() };
  }
}
