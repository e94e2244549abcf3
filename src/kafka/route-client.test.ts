import { interpret } from './route-client.js';

const body = JSON.stringify({ customer: 'acme', cell: 'eu-1b', epoch: 3, state: 'Active', endpoints: { kafkaBootstrap: 'k:9092' } });

describe('reading the router\'s answer', () => {
  it('gives the cell, the epoch and the cell\'s Kafka address', () => {
    expect(interpret(200, undefined, body)).toEqual({ kind: 'Route', cell: 'eu-1b', epoch: 3, state: 'Active', kafkaBootstrap: 'k:9092' });
  });

  it('tells a fenced customer (503 Fenced, no cell) from a router that is not ready (503 NotReady)', () => {
    const fenced = (extra: object) => JSON.stringify({ error: 'Fenced', message: 'moving', customer: 'acme', state: 'Fenced', ...extra });
    expect(interpret(503, '2', fenced({}))).toEqual({ kind: 'Fenced', retryAfterMs: 2000, inCell: undefined });
    expect(interpret(503, '2', fenced({ inCell: true }))).toEqual({ kind: 'Fenced', retryAfterMs: 2000, inCell: true });
    expect(interpret(503, undefined, fenced({ inCell: false }))).toEqual({ kind: 'Fenced', retryAfterMs: 1000, inCell: false });
    // A 503 that carries a route is not a route: only a 200 is.
    expect(interpret(503, '2', body)).toEqual({ kind: 'Unavailable', reason: 'the router answered 503 without a route' });
    expect(interpret(503, '1', JSON.stringify({ error: 'NotReady' }))).toEqual({ kind: 'Unavailable', reason: 'the router answered 503 without a route' });
  });

  it('knows an unknown customer and treats anything else as a retry', () => {
    expect(interpret(404, undefined, '{}')).toEqual({ kind: 'NotFound' });
    expect(interpret(500, undefined, '')).toEqual({ kind: 'Unavailable', reason: 'the router answered 500' });
    expect(interpret(200, undefined, 'oops')).toMatchObject({ kind: 'Unavailable' });
  });
});
