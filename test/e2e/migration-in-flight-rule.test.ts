// The bound on a Migration's customers in flight (spec.maxConcurrent × spec.batchSize <= 1000) on a
// real API server, as an upgrade meets it: an object stored before the rule existed keeps its pair
// through other updates (an abort must never be refused), and an update that changes the pair is
// held to the bound. The stored-before object needs a schema without the rule, so this test runs
// the Migration's own generated schema under a CRD of its own (another group), first without the
// rule, then with it; the cell-operator CRDs are not touched.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { apply, kubectl, waitFor } from './support/kube.js';

const GROUP = 'inflight.e2e.cells.platform.io';
const CRD_NAME = `migrationprobes.${GROUP}`;
const NAMESPACE = 'default';
const TIMEOUT_MS = 120_000;

interface Rule {
  rule: string;
  optionalOldSelf?: boolean;
}

// The generated Migration CRD: its spec schema with every rule, and without the in-flight one.
const migrationCrd = parse(readFileSync(path.join(process.cwd(), 'config/crd/cells.platform.io_migrations.yaml'), 'utf8')) as {
  spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { 'x-kubernetes-validations': Rule[] } } } } }[] };
};
const specSchema = migrationCrd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
const inFlightRule = specSchema['x-kubernetes-validations'].find((r) => r.optionalOldSelf === true);

function probeCrd(withRule: boolean): object {
  const rules = specSchema['x-kubernetes-validations'].filter((r) => withRule || r !== inFlightRule);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: 'MigrationProbe', plural: 'migrationprobes', singular: 'migrationprobe', listKind: 'MigrationProbeList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { ...specSchema, 'x-kubernetes-validations': rules } } } } }],
    },
  };
}

const probe = (name: string, spec: Record<string, unknown>): object => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'MigrationProbe',
  metadata: { name, namespace: NAMESPACE },
  spec: { from: 'eu-west-1a', to: 'eu-west-1b', customers: { all: true }, steps: [{ move: '100%' }], ...spec },
});

const patch = (name: string, spec: Record<string, unknown>) =>
  kubectl(['patch', `migrationprobes.${GROUP}`, name, '-n', NAMESPACE, '--type', 'merge', '-p', JSON.stringify({ spec })], { allowFailure: true });

describe('the bound on customers in flight, across an upgrade that brings it', () => {
  afterAll(async () => {
    await kubectl(['delete', 'crd', CRD_NAME, '--ignore-not-found', '--wait=false'], { allowFailure: true });
  }, TIMEOUT_MS);

  it('keeps an older Migration updatable (abort, pause) and holds a changed pair to 1000', async () => {
    expect(inFlightRule?.rule).toContain('oldSelf.hasValue()');
    await apply(probeCrd(false));
    await kubectl(['wait', '--for=condition=Established', `crd/${CRD_NAME}`, '--timeout=60s']);
    // Before the rule: 100 × 200 was allowed (each field within its own bound).
    await waitFor(async () => (await kubectl(['apply', '-f', '-'], { input: JSON.stringify(probe('older', { maxConcurrent: 100, batchSize: 200 })), allowFailure: true })).code === 0, {
      description: 'the probe CRD to serve objects',
    });

    await apply(probeCrd(true));
    // The new schema is in effect once a new object with that pair is refused, naming the field.
    const refusedNew = await waitFor(
      async () => {
        const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(probe('newer', { maxConcurrent: 100, batchSize: 200 })), allowFailure: true });
        return r.code !== 0 ? r.stderr : undefined;
      },
      { timeoutMs: 60_000, description: 'the rule to refuse a new object' },
    );
    expect(refusedNew).toContain('spec.batchSize');
    expect(refusedNew).toContain('must be at most 1000');

    // The stored object: other fields change as before.
    expect((await patch('older', { paused: true })).code).toBe(0);
    expect((await patch('older', { abort: true })).stderr).toBe('');
    // A change of the pair is held to the bound, and one within it is taken.
    const raised = await patch('older', { maxConcurrent: 50 });
    expect(raised.code).not.toBe(0);
    expect(raised.stderr).toContain('spec.batchSize');
    expect((await patch('older', { maxConcurrent: 5 })).code).toBe(0); // 5 × 200 = 1000
    expect((await patch('older', { batchSize: 201 })).code).not.toBe(0); // its own bound, as before
  }, TIMEOUT_MS);
});
