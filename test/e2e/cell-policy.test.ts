// A platform team lets product teams write Cells and nothing else: as a user whose only grant is a
// ClusterRole on cells (impersonated), every attempt to reach beyond the cell's own namespace is
// refused at admission by the shipped ValidatingAdmissionPolicy (config/policy/), naming the field.
// With the policy deliberately not installed, the operator refuses the same Cells itself: a
// condition with the reason, and nothing written or read (checked in the audit log).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from './cluster/paths.js';
import { auditEventsSince, auditMark, condition, describeAudit, getCell, getObject, waitForCell, WRITE_VERBS } from './support/cells.js';
import { apply, e2eEnv, kubectl, waitFor } from './support/kube.js';
import { startOperator, stopAllOperators } from './support/operator.js';

const id = randomBytes(3).toString('hex');
const AUTHOR = `e2e-cell-author-${id}`;
const ROLE = `e2e-cells-only-${id}`;
const ALLOWED_PREFIX = `e2e-team-${id}-`;
const POLICY_FILE = path.join(projectRoot(), 'config/policy/cell-policy.yaml');
const local = process.env.E2E_CLUSTER === 'local';

function cell(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name },
    spec: {
      region: 'eu-west-1',
      capacity: { maxCustomers: 10 },
      kafka: { controllers: { replicas: 1, storage: { size: '1Gi' } }, brokers: { replicas: 1, storage: { size: '1Gi' } }, topics: [{ name: 'telemetry', partitions: 1, replicas: 1 }] },
      ...spec,
    },
  };
}
const external = (namespace: string) => ({
  database: { external: { host: 'db.example.com', database: 'telemetry', sslMode: 'disable', secretRef: { name: 'db', namespace } } },
});

/** An external database with its Secret in `secrets` and its CA in a ConfigMap of `ca`. */
function withCa(secrets: string, ca: string) {
  return {
    database: {
      external: { host: 'db.example.com', database: 'telemetry', secretRef: { name: 'db', namespace: secrets }, caRef: { kind: 'ConfigMap', name: 'kube-root-ca.crt', namespace: ca } },
    },
  };
}

/** The hostile Cells: each with the field its refusal must name. */
const HOSTILE = [
  { name: `ns-kube-system-${id}`, spec: { namespace: 'kube-system' }, field: 'spec.namespace', reason: 'NamespaceNotAllowed' },
  { name: `ns-other-cell-${id}`, spec: { namespace: `cell-someone-else-${id}` }, field: 'spec.namespace', reason: 'NamespaceNotAllowed' },
  { name: `secret-kube-system-${id}`, spec: external('kube-system'), field: 'spec.database.external.secretRef', reason: 'SecretNamespaceNotAllowed' },
  {
    name: `clash-${id}`,
    spec: { workloads: [{ name: `clash-${id}-db`, image: 'registry.example.com/a:1', port: 5432 }] },
    field: 'spec.workloads',
    reason: 'WorkloadNameConflict',
  },
  {
    name: `ca-kube-system-${id}`,
    spec: withCa(`cell-ca-kube-system-${id}`, 'kube-system'),
    field: 'spec.database.external.caRef',
    reason: 'CaNamespaceNotAllowed',
  },
] as const;

/** `kubectl <args>` as the Cell author (impersonation: the admin of the e2e cluster may). */
const asAuthor = (args: string[], input?: string) => kubectl([...args, `--as=${AUTHOR}`], { input, allowFailure: true });

/** config/policy/'s policy, with this allowlist written into it as an installer would. */
async function installPolicy(allowed: string): Promise<void> {
  const docs = parseAllDocuments(readFileSync(POLICY_FILE, 'utf8')).map((d) => d.toJS() as { kind: string; spec: { variables?: { name: string; expression: string }[] } });
  const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy');
  const variable = policy?.spec.variables?.find((v) => v.name === 'allowed');
  if (!variable) throw new Error(`${POLICY_FILE} has no variable "allowed"`);
  variable.expression = JSON.stringify([allowed]);
  await apply(docs);
}

async function removePolicy(): Promise<void> {
  await kubectl(['delete', '-f', POLICY_FILE, '--ignore-not-found'], { allowFailure: true });
}

describe('a user allowed only to create Cells', () => {
  beforeAll(async () => {
    await apply([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: ROLE },
        rules: [{ apiGroups: ['cells.platform.io'], resources: ['cells'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: ROLE },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROLE },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: AUTHOR }],
      },
    ]);
  }, 60_000);

  afterAll(async () => {
    await stopAllOperators();
    await removePolicy();
    // The refused Cells carry no finalizer: they go at once.
    await kubectl(['delete', 'cells', ...HOSTILE.map((h) => h.name), '--ignore-not-found', '--wait=true'], { allowFailure: true, timeoutMs: 60_000 });
    await kubectl(['delete', 'clusterrolebinding,clusterrole', ROLE, '--ignore-not-found'], { allowFailure: true });
  }, 120_000);

  it('may create Cells and cannot read a Secret itself', async () => {
    expect((await asAuthor(['auth', 'can-i', 'create', 'cells.cells.platform.io'])).stdout.trim()).toBe('yes');
    expect((await asAuthor(['auth', 'can-i', 'get', 'secrets', '-n', 'kube-system'])).stdout.trim()).toBe('no');
  });

  describe('with the admission policy installed', () => {
    beforeAll(async () => {
      await installPolicy(`${ALLOWED_PREFIX}*`);
      // A new policy takes effect once the API server has compiled it and read its params.
      await waitFor(
        async () => {
          const r = await asAuthor(['create', '--dry-run=server', '-f', '-'], JSON.stringify(cell(HOSTILE[0].name, HOSTILE[0].spec)));
          return r.code !== 0 && /ValidatingAdmissionPolicy/.test(r.stderr);
        },
        { timeoutMs: 60_000, intervalMs: 1000, description: 'the Cell admission policy to take effect' },
      );
    }, 90_000);
    afterAll(removePolicy, 60_000);

    it.each(HOSTILE.map((h) => [h.name, h] as const))('refuses %s at admission, naming the field', async (_name, hostile) => {
      const r = await asAuthor(['create', '-f', '-'], JSON.stringify(cell(hostile.name, hostile.spec)));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${hostile.field}:`);
      expect(r.stderr).toMatch(/ValidatingAdmissionPolicy 'cell-operator-cells' with binding 'cell-operator-cells' denied request/);
      expect(await getCell(hostile.name)).toBeUndefined();
    });

    it('accepts cell-<name>, an allowed namespace, and a Secret in the cell\'s own namespace', async () => {
      for (const ok of [
        cell(`plain-${id}`),
        cell(`own-ns-${id}`, { namespace: `cell-own-ns-${id}` }),
        cell(`allowed-${id}`, { namespace: `${ALLOWED_PREFIX}a` }),
        cell(`own-secret-${id}`, external(`cell-own-secret-${id}`)),
        cell(`allowed-secret-${id}`, external(`${ALLOWED_PREFIX}secrets`)),
        cell(`allowed-ca-${id}`, withCa(`${ALLOWED_PREFIX}secrets`, `${ALLOWED_PREFIX}secrets`)),
      ]) {
        const r = await asAuthor(['create', '--dry-run=server', '-f', '-'], JSON.stringify(ok));
        expect({ cell: (ok.metadata as { name: string }).name, stderr: r.stderr, code: r.code }).toEqual(expect.objectContaining({ code: 0 }));
      }
    });
  });

  describe('with the admission policy deliberately not installed', () => {
    it('is refused by the operator instead: a condition naming the field, and nothing read or written', async () => {
      await removePolicy();
      const mark = auditMark();
      // The API server accepts them now (the policy is gone); give it a moment to notice.
      await waitFor(
        async () => (await asAuthor(['create', '--dry-run=server', '-f', '-'], JSON.stringify(cell(HOSTILE[0].name, HOSTILE[0].spec)))).code === 0,
        { timeoutMs: 60_000, intervalMs: 1000, description: 'the API server to forget the policy' },
      );
      for (const hostile of HOSTILE) {
        const r = await asAuthor(['create', '-f', '-'], JSON.stringify(cell(hostile.name, hostile.spec)));
        expect({ cell: hostile.name, code: r.code, stderr: r.stderr }).toEqual(expect.objectContaining({ code: 0 }));
      }
      const operator = await startOperator({ name: `policy-${id}`, leaderElect: false, allowedNamespaces: `${ALLOWED_PREFIX}*` });
      await operator.waitReady();

      for (const hostile of HOSTILE) {
        const refused = await waitForCell(hostile.name, (c) => condition(c, 'Ready')?.reason === hostile.reason, `to be refused with ${hostile.reason}`);
        expect(condition(refused, 'Ready')?.message).toContain(hostile.field);
        expect(condition(refused, 'Stalled')).toMatchObject({ status: 'True', reason: hostile.reason });
        expect(refused.metadata.finalizers ?? []).toEqual([]);
      }
      // Nothing of theirs exists: no cell namespace, nothing labelled in kube-system.
      expect(await getObject('namespace', `cell-${HOSTILE[2].name}`)).toBeUndefined();
      expect(await getObject('namespace', `cell-someone-else-${id}`)).toBeUndefined();
      const labelled = await kubectl(['get', 'networkpolicies,deployments,services,secrets', '-n', 'kube-system', '-l', `cells.platform.io/cell in (${HOSTILE.map((h) => h.name).join(',')})`, '-o', 'name']);
      expect(labelled.stdout.trim()).toBe('');
      const kubeSystem = await getObject('namespace', 'kube-system');
      expect(HOSTILE.map((h) => h.name)).not.toContain(kubeSystem?.metadata.labels?.['cells.platform.io/cell']);

      if (local && mark) {
        // The audit log: the operator wrote only the status of these Cells, and read no Secret.
        const user = e2eEnv().operatorUser;
        const names = new Set<string>(HOSTILE.map((h) => h.name));
        const mine = auditEventsSince(mark).filter((e) => e.user.username === user);
        const touched = mine.filter((e) => e.objectRef?.namespace === 'kube-system' || e.objectRef?.resource === 'secrets' || names.has(e.objectRef?.name ?? ''));
        const writes = touched.filter((e) => WRITE_VERBS.has(e.verb)).map(describeAudit);
        expect(writes.every((w) => /^patch cells\/status /.test(w))).toBe(true);
        expect(writes.length).toBeGreaterThanOrEqual(HOSTILE.length);
        expect(touched.filter((e) => e.objectRef?.resource === 'secrets').map(describeAudit)).toEqual([]);
      }
      await operator.stop();
    }, 240_000);
  });
});
