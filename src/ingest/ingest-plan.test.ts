import type { RouteAnswer } from '../kafka/route-client.js';
import { planBatch, type Decoded } from './ingest-plan.js';

const msg = (customer: string, id: number): Decoded => ({ ok: true, message: { customer, id, device: 'd', value: 1 } });
const here: RouteAnswer = { kind: 'Route', cell: 'a', epoch: 1, state: 'Active', kafkaBootstrap: 'ka:9092' };
const moved: RouteAnswer = { kind: 'Route', cell: 'b', epoch: 2, state: 'Active', kafkaBootstrap: 'kb:9092' };

describe('what the ingestion worker does with a batch', () => {
  it('writes the customers that live here, also while they are fenced for their cut-over', () => {
    const routes = new Map<string, RouteAnswer>([
      ['x', here],
      ['y', { kind: 'Fenced', retryAfterMs: 1000, inCell: true }],
    ]);
    const plan = planBatch('a', [msg('x', 1), msg('y', 2)], routes);
    expect(plan.write.map((m) => m.id)).toEqual([1, 2]);
    expect(plan.forward).toEqual([]);
  });

  it('holds a fenced customer that does not live here, or when the router did not say, until it names a cell', () => {
    const routes = new Map<string, RouteAnswer>([
      ['elsewhere', { kind: 'Fenced', retryAfterMs: 1000, inCell: false }],
      ['unsaid', { kind: 'Fenced', retryAfterMs: 1000, inCell: undefined }],
    ]);
    const plan = planBatch('a', [msg('elsewhere', 1), msg('unsaid', 2)], routes);
    expect(plan).toEqual({ write: [], forward: [], deadLetter: [], undecided: ['elsewhere', 'unsaid'] });
  });

  it('forwards the messages of a customer that moved to its cell, grouped by cell', () => {
    const plan = planBatch('a', [msg('gone', 1), msg('x', 2), msg('gone', 3)], new Map([['gone', moved], ['x', here]]));
    expect(plan.write.map((m) => m.id)).toEqual([2]);
    expect(plan.forward).toEqual([{ cell: 'b', bootstrap: 'kb:9092', messages: [msg('gone', 1), msg('gone', 3)].map((d) => (d as { message: unknown }).message) }]);
  });

  it('sets aside malformed messages and unknown customers, and waits when the router cannot say', () => {
    const plan = planBatch(
      'a',
      [{ ok: false, problem: 'the value is not JSON', raw: Buffer.from('{') }, msg('ghost', 1), msg('later', 2), msg('noaddr', 3)],
      new Map<string, RouteAnswer>([
        ['ghost', { kind: 'NotFound' }],
        ['later', { kind: 'Unavailable', reason: 'down' }],
        ['noaddr', { kind: 'Route', cell: 'c', epoch: 1, state: 'Active', kafkaBootstrap: undefined }],
      ]),
    );
    expect(plan.deadLetter.map((d) => d.reason)).toEqual(['the value is not JSON', 'customer ghost is not placed in any cell']);
    expect(plan.undecided).toEqual(['later', 'noaddr']);
    expect(plan.write).toEqual([]);
  });
});
