// A thousand customers onboarded through the router's bulk API (POST /v1/customers:batch, NDJSON
// in and out, bearer token), the way a product's sign-up flow or a bulk import would.

export interface CustomerRequest {
  customer: string;
  region?: string;
  expectedDevices: number;
  labels: Record<string, string>;
}

/** A group of customers alike, for the output. */
export interface CustomerGroup {
  prefix: string;
  count: number;
  region?: string;
  tier: string;
  description: string;
}

export const CUSTOMER_GROUPS: CustomerGroup[] = [
  { prefix: 'eu-std', count: 500, region: 'eu-west-1', tier: 'standard', description: 'bound to eu-west-1, tier=standard' },
  { prefix: 'eu-pro', count: 150, region: 'eu-west-1', tier: 'pro', description: 'bound to eu-west-1, tier=pro' },
  { prefix: 'us-std', count: 200, region: 'us-east-1', tier: 'standard', description: 'bound to us-east-1, tier=standard' },
  { prefix: 'free', count: 150, tier: 'free', description: 'not bound to a region, tier=free' },
];

/** The customers, with sizes that differ so that SmallestFirst has an order to follow. */
export function demoCustomers(): CustomerRequest[] {
  return CUSTOMER_GROUPS.flatMap((group) =>
    Array.from({ length: group.count }, (_, i) => ({
      customer: `${group.prefix}-${String(i + 1).padStart(4, '0')}`,
      ...(group.region ? { region: group.region } : {}),
      expectedDevices: 1 + ((i * 37) % 50),
      labels: { tier: group.tier },
    })),
  );
}

export interface BatchResultLine {
  line: number;
  customer?: string;
  status: 'Created' | 'Existing' | 'Invalid' | 'Unschedulable' | 'Failed';
  cell?: string;
  reason?: string;
  problems?: unknown;
}

export interface BatchSummary {
  lines: number;
  Created: number;
  Existing: number;
  Invalid: number;
  Unschedulable: number;
  Failed: number;
}

export interface BatchOutcome {
  results: BatchResultLine[];
  summary: BatchSummary;
  /** Customers per cell, over the lines placed (Created or Existing). */
  perCell: Map<string, number>;
}

/** Posts every customer in one NDJSON body; fails with the router's reasons unless all are placed. */
export async function onboardCustomers(routerUrl: string, token: string, customers: CustomerRequest[]): Promise<BatchOutcome> {
  const body = customers.map((c) => JSON.stringify(c)).join('\n') + '\n';
  const response = await fetch(`${routerUrl}/v1/customers:batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /v1/customers:batch answered ${response.status}: ${text.slice(0, 500)}`);
  const results: BatchResultLine[] = [];
  let summary: (BatchSummary & { complete?: boolean }) | undefined;
  let aborted: unknown;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const parsed = JSON.parse(line) as (BatchResultLine & { summary?: undefined }) | { summary: BatchSummary; complete: boolean; aborted?: unknown };
    if ('summary' in parsed && parsed.summary) {
      summary = { ...parsed.summary, complete: (parsed as { complete: boolean }).complete };
      aborted = (parsed as { aborted?: unknown }).aborted;
    } else results.push(parsed as BatchResultLine);
  }
  if (!summary) throw new Error(`POST /v1/customers:batch gave no summary line (the router may have stopped); got ${results.length} result lines`);
  const refused = results.filter((r) => r.status !== 'Created' && r.status !== 'Existing');
  if (refused.length > 0 || !summary.complete) {
    const examples = refused.slice(0, 5).map((r) => `  line ${r.line} ${r.customer ?? ''}: ${r.status} ${r.reason ?? JSON.stringify(r.problems ?? '')}`);
    throw new Error(
      `the router placed ${summary.Created + summary.Existing} of ${customers.length} customers` +
        `${aborted ? ` and stopped: ${JSON.stringify(aborted)}` : ''}\n${examples.join('\n')}`,
    );
  }
  const perCell = new Map<string, number>();
  for (const r of results) if (r.cell) perCell.set(r.cell, (perCell.get(r.cell) ?? 0) + 1);
  return { results, summary, perCell };
}
