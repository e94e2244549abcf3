import { compareRbac, describeRequest, verbsChecked, type Grant, type ResourceRequest } from './audit-compare.js';
import { leaderElectionRules, OPERATOR_RULES } from './rules.js';

const cluster: Grant = {
  role: 'ClusterRole/op',
  rules: [
    { apiGroups: ['cells.platform.io'], resources: ['cells'], verbs: ['get', 'patch'], why: '' },
    { apiGroups: ['cells.platform.io'], resources: ['cells/status'], verbs: ['patch'], why: '' },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch'], why: '' },
  ],
};
const lease: Grant = { role: 'Role/le', namespace: 'ops', rules: leaderElectionRules('op') };

const req = (verb: string, resource: string, more: Partial<ResourceRequest> = {}): ResourceRequest => ({
  verb,
  apiGroup: resource.startsWith('lease') ? 'coordination.k8s.io' : resource.startsWith('secret') ? '' : 'cells.platform.io',
  resource,
  code: 200,
  ...more,
});

describe('compareRbac', () => {
  it('finds nothing to say when every request is allowed and every grant used', () => {
    const result = compareRbac(
      [cluster, lease],
      [
        req('get', 'cells', { name: 'a' }),
        req('patch', 'cells', { name: 'a' }),
        req('patch', 'cells', { subresource: 'status', name: 'a' }),
        req('patch', 'secrets', { namespace: 'x', name: 's', code: 201 }),
        req('create', 'leases', { namespace: 'ops', code: 201 }),
        req('get', 'leases', { namespace: 'ops', name: 'op' }),
        req('update', 'leases', { namespace: 'ops', name: 'op' }),
      ],
    );
    expect(result).toEqual({ notAllowed: [], forbidden: [], unused: [], requests: 7 });
  });

  it('names a request no rule allows, and one the server refused', () => {
    const result = compareRbac([cluster], [req('delete', 'cells', { name: 'a', code: 403 }), req('list', 'cells')]);
    expect(result.forbidden).toEqual(['delete cells.platform.io/cells a -> 403']);
    expect(result.notAllowed).toEqual(['list cells.platform.io/cells -> 200']);
  });

  it('names each verb and resource that no request used, except those excused', () => {
    const result = compareRbac([cluster], [req('get', 'cells', { name: 'a' })], [{ grant: 'ClusterRole/op: create core/secrets', why: 'test' }]);
    expect(result.unused).toEqual(['ClusterRole/op: patch cells.platform.io/cells', 'ClusterRole/op: patch cells.platform.io/cells/status', 'ClusterRole/op: patch core/secrets']);
  });

  it('counts a server-side apply that created its object (201) as a use of create', () => {
    expect(verbsChecked(req('patch', 'secrets', { code: 201 }))).toEqual(['patch', 'create']);
    expect(verbsChecked(req('patch', 'secrets', { code: 200 }))).toEqual(['patch']);
    const result = compareRbac([cluster], [req('patch', 'secrets', { namespace: 'x', name: 's', code: 201 })]);
    expect(result.unused).not.toContain('ClusterRole/op: create core/secrets');
  });

  it('holds a Role to its namespace and a named rule to its names', () => {
    const result = compareRbac(
      [lease],
      [req('get', 'leases', { namespace: 'other', name: 'op' }), req('update', 'leases', { namespace: 'ops', name: 'someone-else' })],
    );
    expect(result.notAllowed).toEqual(['get coordination.k8s.io/leases other/op -> 200', 'update coordination.k8s.io/leases ops/someone-else -> 200']);
    expect(result.unused).toEqual([
      'Role/le: create coordination.k8s.io/leases',
      'Role/le: get coordination.k8s.io/leases (op)',
      'Role/le: update coordination.k8s.io/leases (op)',
    ]);
  });

  it('does not let a named rule allow create, list or watch', () => {
    const result = compareRbac([{ role: 'Role/named', namespace: 'ops', rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['op'], verbs: ['create', 'list'], why: '' }] }], [
      req('create', 'leases', { namespace: 'ops', name: 'op', code: 201 }),
      req('list', 'leases', { namespace: 'ops' }),
    ]);
    expect(result.notAllowed).toHaveLength(2);
  });

  it('describes the core group by name', () => {
    expect(describeRequest(req('get', 'secrets', { namespace: 'n', name: 's' }))).toBe('get core/secrets n/s -> 200');
  });

  it('has no unused grant for the operator rules when each is exercised once', () => {
    const all: ResourceRequest[] = OPERATOR_RULES.flatMap((rule) =>
      rule.apiGroups.flatMap((apiGroup) =>
        rule.resources.flatMap((resource) => {
          const [res, sub] = resource.split('/');
          return rule.verbs.map((verb) => ({ verb, apiGroup, resource: res!, subresource: sub, namespace: 'n', name: 'x', code: 200 }));
        }),
      ),
    );
    expect(compareRbac([{ role: 'ClusterRole/op', rules: OPERATOR_RULES }], all)).toMatchObject({ notAllowed: [], forbidden: [], unused: [] });
  });
});
