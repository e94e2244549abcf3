import type { Cell } from '../crds/cell.js';
import { EXAMPLE_CELL_SPEC, exampleCell } from '../controllers/cell/example-cell.js';
import type { Informer } from '../runtime/informer.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { CellPools, CREDENTIALS_TTL_MS } from './cell-pools.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const external = (secret: string) =>
  exampleCell({ ...EXAMPLE_CELL_SPEC, database: { external: { host: 'db.example.com', database: 'telemetry', sslMode: 'require', secretRef: { name: secret, namespace: 'ops' } } } }, { name: 'a' });

describe('CellPools reading a cell\'s credentials', () => {
  it('reads the Secret once per TTL, at once when the Cell names another Secret, and shares one read between concurrent actions', async () => {
    let cell = external('db');
    const clock = { ms: 0 };
    const kube = new FakeKubeClient(() => ({ data: { username: b64('u'), password: b64('p') } }));
    const pools = new CellPools(kube, { get: () => cell } as unknown as Informer<Cell>, undefined, undefined, { clock: { now: () => clock.ms } });
    try {
      await Promise.all([pools.database('a'), pools.database('a'), pools.database('a')]);
      clock.ms += CREDENTIALS_TTL_MS - 1;
      await pools.database('a');
      expect(kube.requests).toHaveLength(1);
      clock.ms += 1;
      await pools.database('a');
      expect(kube.requests).toHaveLength(2);
      cell = external('rotated');
      await pools.database('a');
      expect(kube.requests.map((r) => r.path)).toEqual([
        '/api/v1/namespaces/ops/secrets/db',
        '/api/v1/namespaces/ops/secrets/db',
        '/api/v1/namespaces/ops/secrets/rotated',
      ]);
    } finally {
      await pools.close();
    }
  });

  it('does not keep a failed read', async () => {
    let fail = true;
    const kube = new FakeKubeClient(() => {
      if (fail) throw Object.assign(new Error('api server away'), { statusCode: 503 });
      return { data: { username: b64('u'), password: b64('p') } };
    });
    const pools = new CellPools(kube, { get: () => external('db') } as unknown as Informer<Cell>, undefined, undefined, { clock: { now: () => 0 } });
    try {
      await expect(pools.database('a')).rejects.toThrow(/api server away/);
      fail = false;
      await expect(pools.database('a')).resolves.toMatchObject({ tenancy: { tenantColumn: 'customer_id' } });
      expect(kube.requests).toHaveLength(2);
    } finally {
      await pools.close();
    }
  });
});
