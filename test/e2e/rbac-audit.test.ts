// Least privilege, checked against what the operator really did: every operator of the e2e run
// ran as the ServiceAccount of config/rbac/ (support/operator-identity.ts). This file runs last
// (test/e2e/sequencer.js) and compares that account's requests in the API server's audit log with
// the rules of src/rbac/rules.ts: a request no rule allows, a 403, or a grant nobody used fails.
import { randomBytes } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { compareRbac, type Grant, type ResourceRequest, type UnusedAllowed } from '../../src/rbac/audit-compare.js';
import { PLAIN } from '../../src/rbac/render.js';
import { leaderElectionRules, OPERATOR_RULES } from '../../src/rbac/rules.js';
import type { AuditEvent } from './support/cells.js';
import { apiServerRestarts } from './cluster/local-cluster.js';
import { apply, e2eEnv, kubectl } from './support/kube.js';

const local = process.env.E2E_CLUSTER === 'local';
const id = randomBytes(3).toString('hex');

const GRANTS: Grant[] = [
  { role: `ClusterRole/${PLAIN.clusterRole}`, rules: OPERATOR_RULES },
  { role: `Role/${PLAIN.leaderElectionRole}`, namespace: PLAIN.namespace, rules: leaderElectionRules() },
];

/** Grants no request can show in the audit log, each with the check that stands in for it. */
const USED_OUTSIDE_THE_AUDIT_LOG: UnusedAllowed[] = [
  {
    grant: `ClusterRole/${PLAIN.clusterRole}: update cells.platform.io/cells/finalizers`,
    why: 'authorized inside the create of every child (OwnerReferencesPermissionEnforcement, enabled on the local API server), not a request of its own; the last test shows a child cannot be created without it',
  },
];

/** The operator ServiceAccount's resource requests since the run began, from every audit log file. */
async function operatorRequests(): Promise<{ requests: ResourceRequest[]; nonResource: Set<string>; userAgents: Set<string>; forgiven: number }> {
  const env = e2eEnv();
  const restarts = apiServerRestarts();
  let forgiven = 0;
  const dir = path.dirname(env.auditLog!);
  // The current file and the backups that kube-apiserver rotated away (audit-<time>.log).
  const files = readdirSync(dir).filter((f) => /^audit.*\.log$/.test(f));
  const needle = JSON.stringify(env.operatorUser);
  const requests: ResourceRequest[] = [];
  const nonResource = new Set<string>();
  const userAgents = new Set<string>();
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(path.join(dir, file)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.includes(needle)) continue;
      const event = JSON.parse(line) as AuditEvent & { requestURI: string; stage?: string };
      const at = Date.parse(event.requestReceivedTimestamp);
      if (event.user.username !== env.operatorUser || at < Date.parse(env.runStarted)) continue;
      if (event.userAgent) userAgents.add(event.userAgent.replace(/\(.*\)$/, '(…)'));
      const o = event.objectRef;
      if (!o?.resource) {
        nonResource.add(`${event.verb} ${event.requestURI.split('?')[0]}`);
        continue;
      }
      // A kube-apiserver just restarted (runtime.test.ts) refuses requests until its RBAC caches
      // fill, shortly before it reports ready: not a missing grant.
      if (event.responseStatus?.code === 403 && restarts.some((r) => at >= Date.parse(r.from) && at <= Date.parse(r.ready))) {
        forgiven++;
        continue;
      }
      requests.push({
        verb: event.verb,
        apiGroup: o.apiGroup ?? '',
        resource: o.resource,
        subresource: o.subresource,
        namespace: o.namespace,
        name: o.name,
        code: event.responseStatus?.code,
      });
    }
  }
  if (forgiven > 0) process.stderr.write(`[rbac e2e] forgave ${forgiven} 403s while kube-apiserver was starting again (${restarts.length} restarts)\n`);
  return { requests, nonResource, userAgents, forgiven };
}

(local ? describe : describe.skip)('the operator RBAC, against the audit log of the whole e2e run', () => {
  let found: Awaited<ReturnType<typeof operatorRequests>>;
  let result: ReturnType<typeof compareRbac>;

  beforeAll(async () => {
    found = await operatorRequests();
    result = compareRbac(GRANTS, found.requests, USED_OUTSIDE_THE_AUDIT_LOG);
  });

  it('saw the operator at work, as its ServiceAccount', () => {
    // Run alone, this file has nothing to compare: the other e2e files make the requests.
    expect(found.requests.length).toBeGreaterThan(100);
    expect([...found.userAgents]).toEqual(expect.arrayContaining([expect.stringMatching(/^cell-operator\/\d+\.\d+\.\d+ \(…\)$/)]));
  });

  it('made no request that the roles do not allow, and was refused nothing', () => {
    expect(result.forbidden).toEqual([]);
    expect(result.notAllowed).toEqual([]);
  });

  it('used every verb on every resource the roles grant', () => {
    expect(result.unused).toEqual([]);
  });

  it('needed nothing beyond the discovery every authenticated user has', () => {
    // Non-resource URLs are allowed by the built-in system:discovery role, not by ours.
    for (const request of found.nonResource) expect(request).toMatch(/^get \/(api|apis)(\/[a-z0-9.-]+)*$/);
  });

  it('needs update on cells/finalizers: without it no child with blockOwnerDeletion can be created', async () => {
    const user = `e2e:no-finalizers-${id}`;
    const role = `e2e-no-finalizers-${id}`;
    await apply([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    ]);
    try {
      const child = (blockOwnerDeletion: boolean) =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: `e2e-owned-${id}-${blockOwnerDeletion}`,
            namespace: 'default',
            ownerReferences: [{ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: 'any', uid: '00000000-0000-0000-0000-000000000001', blockOwnerDeletion }],
          },
        });
      const refused = await kubectl(['create', '--as', user, '-f', '-'], { input: child(true), allowFailure: true });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/cannot set blockOwnerDeletion/);
      // The same child without blockOwnerDeletion is allowed: the refusal was the finalizers check.
      const allowed = await kubectl(['create', '--as', user, '-f', '-'], { input: child(false), allowFailure: true });
      expect(allowed.stderr).toBe('');
    } finally {
      await kubectl(['delete', 'configmap', '-n', 'default', `e2e-owned-${id}-false`, '--ignore-not-found']);
      await kubectl(['delete', 'clusterrolebinding,clusterrole', role, '--ignore-not-found']);
    }
  });
});
