// The documented CRD upgrade path (docs/helm.md, "Upgrades": Helm never upgrades crds/, so the
// CRDs are applied server-side before `helm upgrade`), tried on the API server: a Migration stored
// under the 0.1.0 CRD reads, with the new fields defaulted, after the current CRD is applied over
// it; an update keeps working, and the new rules refuse what they refuse, naming the field.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { kubectl, kubectlJson } from './support/kube.js';

const TIMEOUT_MS = 120_000;
const OLD = path.join(process.cwd(), 'test/e2e/fixtures/crd-upgrade/migrations-0.1.0.yaml');
const CURRENT = path.join(process.cwd(), 'config/crd/cells.platform.io_migrations.yaml');
const name = `upgrade-${randomBytes(3).toString('hex')}`;

const crdsInstalled = (process.env.E2E_CRDS ?? '').includes('cells.platform.io');
const describeIfCrds = crdsInstalled ? describe : describe.skip;
if (!crdsInstalled) process.stderr.write('crd-upgrade: the cell-operator CRDs are not installed (config/crd/ empty): skipped\n');

/** `kubectl apply --server-side` of a CRD file, as docs/helm.md says, then wait until it is served. */
async function applyCrd(file: string): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=crd-upgrade-test', '-f', file]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/migrations.cells.platform.io']);
}

describeIfCrds('upgrading the CRDs in place', () => {
  afterAll(async () => {
    await kubectl(['delete', 'migration', name, '--ignore-not-found', '--wait=false'], { allowFailure: true });
    await applyCrd(CURRENT); // whatever happened, the other suites find the current CRD
  }, TIMEOUT_MS);

  it('keeps a Migration of the 0.1.0 CRD readable and editable after the current CRD is applied over it, with the new fields defaulted', async () => {
    await applyCrd(OLD);
    const manifest = JSON.stringify({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'Migration',
      metadata: { name },
      spec: { from: 'eu-west-1a', to: 'eu-west-1b', customers: { all: true }, steps: [{ move: 1 }, { pause: {} }, { move: '100%' }], drainWait: '5s', retention: '24h' },
    });
    await kubectl(['create', '-f', '-'], { input: manifest });
    const before = await kubectlJson<{ spec: Record<string, unknown> }>(['get', 'migration', name, '-o', 'json']);
    expect(before.spec.maxFence).toBeUndefined(); // the 0.1.0 CRD does not know it

    await applyCrd(CURRENT);
    // The API server reads the stored object through the new schema: defaults filled in, on read.
    await expect(kubectlJson<{ spec: Record<string, unknown> }>(['get', 'migration', name, '-o', 'json'])).resolves.toMatchObject({
      spec: { from: 'eu-west-1a', drainWait: '5s', maxFence: '60s', retention: '24h', paused: false },
    });
    // An update of the old object passes the new rules (drainWait + 20s <= maxFence) ...
    await kubectl(['patch', 'migration', name, '--type=merge', '-p', '{"spec":{"paused":true}}']);
    expect((await kubectlJson<{ spec: { paused: boolean } }>(['get', 'migration', name, '-o', 'json'])).spec.paused).toBe(true);
    // ... and the new rules hold for it as for a new one.
    const refused = await kubectl(['patch', 'migration', name, '--type=merge', '-p', '{"spec":{"drainWait":"50s"}}'], { allowFailure: true });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/spec\.drainWait: Invalid value: .*spec\.drainWait must leave 20s of spec\.maxFence/);
  }, TIMEOUT_MS);
});
