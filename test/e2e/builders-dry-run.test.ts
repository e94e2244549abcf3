// Every object the builders produce for the example cells, checked by the real API server: a
// server-side dry run validates it against the Kubernetes and Strimzi schemas, runs the admission
// chain (Pod Security `restricted` warns about any pod template that breaks it), and stores nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import { CHILD_KINDS, desiredChildren } from '../../src/controllers/cell/cell-children.js';
import type { Cell } from '../../src/crds/cell.js';
import { applyTlsDecision } from '../../src/data/cell-database-tls.js';
import { exampleCellManifests, parsedCell } from './support/examples.js';
import { kubectl } from './support/kube.js';

const TIMEOUT_MS = 60_000;
const suffix = randomBytes(3).toString('hex');
const OPERATOR_NAMESPACE = 'cell-operator-system';

interface Child {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; ownerReferences?: unknown[]; labels?: Record<string, string> };
}

// Renamed so that their namespaces are this test's own (the example cells may exist in the cluster).
const cells = exampleCellManifests().map((m) => parsedCell({ ...m, metadata: { ...m.metadata, name: `${m.metadata.name}-${suffix}` } }, { uid: randomUUID() }));
/** An in-cluster database's TLS material, as the reconciler issues it (its Secret is checked too). */
function inClusterTls(cell: Cell) {
  if (cell.spec.database.external) return {};
  const serverTls = applyTlsDecision(cell, undefined, { action: 'IssueAuthority', why: 'a new cell' }, new Date());
  return { ca: serverTls.ca, serverTls };
}
const children = cells.map((cell) => ({
  cell,
  objects: desiredChildren(cell, {
    operatorNamespace: OPERATOR_NAMESPACE,
    kafkaBootstrap: undefined,
    databaseCredentials: { username: 'cell_app', password: randomBytes(18).toString('base64url'), ...inClusterTls(cell) },
    // The PodMonitors too: the API server checks them against the Prometheus Operator's CRDs.
    podMonitors: true,
  }) as Child[],
}));
const namespaces = children.map(({ objects }) => objects.find((o) => o.kind === 'Namespace')!.metadata.name);

describe('the builders, checked by the API server', () => {
  beforeAll(async () => {
    // A dry run of a namespaced object needs its namespace to exist: create each as the builder
    // shapes it (its Pod Security labels apply to the dry run), without the owner reference to a
    // Cell that does not exist (the garbage collector would delete it).
    for (const { objects } of children) {
      const ns = structuredClone(objects.find((o) => o.kind === 'Namespace')!);
      delete ns.metadata.ownerReferences;
      await kubectl(['apply', '--server-side', '--field-manager=e2e-test', '-f', '-'], { input: stringify(ns) });
    }
  }, TIMEOUT_MS);

  afterAll(async () => {
    await kubectl(['delete', 'namespace', ...namespaces, '--wait=false', '--ignore-not-found'], { allowFailure: true });
  }, TIMEOUT_MS);

  it('covers every kind of child for the example cells', () => {
    const kinds = new Set(children.flatMap(({ objects }) => objects.map((o) => `${o.apiVersion}/${o.kind}`)));
    expect([...kinds].sort()).toEqual(CHILD_KINDS.map((k) => `${k.apiVersion}/${k.kind}`).sort());
  });

  it.each(children.map(({ cell, objects }) => [cell.metadata.name!.replace(`-${suffix}`, ''), objects] as const))(
    'accepts every child of example cell %s in a server-side dry run, without a Pod Security warning',
    async (_name, objects) => {
      const result = await kubectl(
        ['apply', '--server-side', '--dry-run=server', '--field-manager=cell-operator', '--force-conflicts', '-f', '-'],
        { input: objects.map((o) => stringify(o)).join('---\n'), allowFailure: true },
      );
      expect({ code: result.code, stderr: result.stderr.trim() }).toEqual({ code: 0, stderr: '' });
      const accepted = result.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'));
      expect(accepted).toHaveLength(objects.length);
    },
    TIMEOUT_MS,
  );
});
