import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { analysisQuery, judgeAnswer, queryPrometheus } from './release-analysis.js';

const vector = (...values: string[]) => ({ status: 'success', data: { resultType: 'vector', result: values.map((v, i) => ({ metric: { pod: `p${i}` }, value: [1, v] })) } });

describe('judgeAnswer', () => {
  it('passes when every sample keeps the bounds, and fails naming the samples that do not', () => {
    expect(judgeAnswer(vector('0.001', '0.004'), { max: 0.01 })).toEqual({ result: 'Passed', message: '2 sample(s) <= 0.01: 0.001, 0.004' });
    expect(judgeAnswer(vector('0.001', '0.2'), { max: 0.01 })).toEqual({ result: 'Failed', message: '1 sample(s) not <= 0.01: {"pod":"p1"} = 0.2' });
    expect(judgeAnswer({ status: 'success', data: { resultType: 'scalar', result: [1, '0.5'] } }, { min: 1 }).result).toBe('Failed');
    expect(judgeAnswer(vector('NaN'), { min: 0 }).result).toBe('Failed');
  });

  it('is inconclusive on an empty result or an error answer', () => {
    expect(judgeAnswer(vector(), { max: 1 })).toEqual({ result: 'Inconclusive', message: 'the query returned no sample' });
    expect(judgeAnswer({ status: 'error', error: 'parse error' }, { max: 1 }).result).toBe('Inconclusive');
  });
});

describe('queryPrometheus', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const query = new URL(req.url ?? '', 'http://x').searchParams.get('query') ?? '';
      seen.push(`${req.url?.split('?')[0]} ${query}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(query.includes('cell="bad"') ? vector('0.3') : vector('0')));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('asks /api/v1/query with the cell put into the query, and judges the answer', async () => {
    const now = () => new Date('2026-12-02T10:00:00Z');
    const q = (cell: string) => analysisQuery('sum(rate(errors{cell="{{cell}}",namespace="{{namespace}}"}[1m]))', cell, `cell-${cell}`);
    expect(await queryPrometheus(url, q('good'), { max: 0.01 }, now)).toMatchObject({ result: 'Passed' });
    expect(await queryPrometheus(url, q('bad'), { max: 0.01 }, now)).toMatchObject({ result: 'Failed' });
    expect(seen).toEqual(['/api/v1/query sum(rate(errors{cell="good",namespace="cell-good"}[1m]))', '/api/v1/query sum(rate(errors{cell="bad",namespace="cell-bad"}[1m]))']);
  });

  it('is inconclusive, not failed, when Prometheus cannot be reached', async () => {
    const result = await queryPrometheus('http://127.0.0.1:1', 'up', { min: 1 }, () => new Date(), 1_000);
    expect(result).toMatchObject({ result: 'Inconclusive', message: expect.stringContaining('cannot reach Prometheus') });
  });
});
