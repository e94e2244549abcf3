import { renderRouteAnswer, renderRouterUnreachable } from './route-answer.js';

const route = {
  customer: 'acme',
  cell: 'eu-west-1a',
  epoch: 4,
  state: 'Active',
  version: 18231,
  region: 'eu-west-1',
  endpoints: { kafkaBootstrap: 'kafka-bootstrap.cell-eu-west-1a.svc:9092', database: 'db.cell-eu-west-1a.svc:5432' },
};

describe('renderRouteAnswer', () => {
  it('prints the cell, region, state, epoch and endpoints of a placed customer', () => {
    expect(renderRouteAnswer('acme', { status: 200, body: route })).toEqual({
      exitCode: 0,
      stdout: [
        'customer   acme',
        'cell       eu-west-1a',
        'region     eu-west-1',
        'state      Active',
        'epoch      4',
        'endpoints',
        '  database        db.cell-eu-west-1a.svc:5432',
        '  kafkaBootstrap  kafka-bootstrap.cell-eu-west-1a.svc:9092',
      ],
      stderr: [],
    });
  });

  it('says that a Fenced customer is moving, that its writes are refused, and when to retry', () => {
    // The router's fenced answer carries no route: the customer, the state, the reason.
    const answer = renderRouteAnswer('acme', { status: 503, retryAfter: '2', body: { error: 'Fenced', message: 'moving', customer: 'acme', state: 'Fenced' } });
    expect(answer.exitCode).toBe(0);
    expect(answer.stdout).toEqual([
      'customer   acme',
      'cell       -',
      'region     -',
      'state      Fenced',
      'epoch      -',
      'endpoints  -',
      '',
      'acme is being moved to another cell (Fenced): the router answers 503 for it until the cut-over; retry in 2s.',
      'Until then the cell databases refuse its writes (SQLSTATE ZF001); ask again after the cut-over for its cell and new epoch.',
    ]);
  });

  it('says an unknown customer is not placed (exit 1)', () => {
    expect(renderRouteAnswer('nobody', { status: 404, body: { error: 'NotFound', message: 'customer nobody is not placed' } })).toEqual({
      exitCode: 1,
      stdout: [],
      stderr: ['customer nobody is not placed: the router does not know it (404 NotFound: customer nobody is not placed).'],
    });
  });

  it('tells a router still loading its index from a fenced customer', () => {
    const answer = renderRouteAnswer('acme', { status: 503, retryAfter: '1', body: { error: 'NotReady', message: 'the routing index is still loading' } });
    expect(answer).toEqual({ exitCode: 1, stdout: [], stderr: ['the router cannot answer yet (503 NotReady: the routing index is still loading); retry in 1s.'] });
  });

  it('passes on a refused id and any other answer', () => {
    expect(renderRouteAnswer('x', { status: 400, body: { error: 'InvalidCustomerId', message: 'customer id is bad' } }).stderr[0]).toBe(
      'the router refused "x" as a customer id (400 InvalidCustomerId: customer id is bad).',
    );
    expect(renderRouteAnswer('x', { status: 502, body: 'Bad Gateway\n' })).toEqual({ exitCode: 1, stdout: [], stderr: ['the router answered 502 Bad Gateway.'] });
  });
});

describe('renderRouterUnreachable', () => {
  it('names the URL, the cause, and how to reach the router of a cluster', () => {
    const err = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const lines = renderRouterUnreachable('http://127.0.0.1:1', err);
    expect(lines[0]).toBe('cannot reach the router at http://127.0.0.1:1: ECONNREFUSED.');
    expect(lines.join('\n')).toContain('port-forward svc/cell-operator-router 8090:8090');
  });
});
