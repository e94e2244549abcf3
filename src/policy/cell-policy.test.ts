import { exampleCell, EXAMPLE_CELL_SPEC } from '../controllers/cell/example-cell.js';
import { parseOperatorConfig } from '../config.js';
import { cellPolicyViolations, parseAllowlist, workloadNameClashes, type CellPolicy } from './cell-policy.js';

const policy: CellPolicy = { operatorNamespace: 'cell-operator-system', allowedNamespaces: ['team-a', 'tenant-*'] };
const external = (namespace: string) => ({
  ...EXAMPLE_CELL_SPEC,
  database: { external: { host: 'db.example.com', database: 'telemetry', secretRef: { name: 'db', namespace } } },
});

describe('what a Cell may reach beyond itself', () => {
  it('lets a cell live in cell-<name> whether spec.namespace says so or not', () => {
    expect(cellPolicyViolations(exampleCell(), policy)).toEqual([]);
    expect(cellPolicyViolations(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace: 'cell-eu-west-1a' }), policy)).toEqual([]);
  });

  it('lets a cell live in an allowed namespace, by name or by prefix', () => {
    expect(cellPolicyViolations(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace: 'team-a' }), policy)).toEqual([]);
    expect(cellPolicyViolations(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace: 'tenant-42' }), policy)).toEqual([]);
  });

  it('refuses kube-system, another cell\'s namespace and a near miss, naming spec.namespace', () => {
    for (const namespace of ['kube-system', 'cell-other', 'team-ab', 'tenant']) {
      const [violation, ...rest] = cellPolicyViolations(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace }), policy);
      expect(rest).toEqual([]);
      expect(violation).toMatchObject({ field: 'spec.namespace', reason: 'NamespaceNotAllowed' });
      expect(violation?.message).toContain(`spec.namespace ${namespace} is not allowed`);
    }
  });

  it('allows every namespace with "*" alone', () => {
    expect(cellPolicyViolations(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace: 'kube-system' }), { ...policy, allowedNamespaces: ['*'] })).toEqual([]);
  });

  it('reads an external database Secret only from the operator\'s namespace, the cell\'s or an allowed one', () => {
    for (const namespace of ['cell-operator-system', 'cell-eu-west-1a', 'team-a', 'tenant-x']) {
      expect(cellPolicyViolations(exampleCell(external(namespace)), policy)).toEqual([]);
    }
    const [violation] = cellPolicyViolations(exampleCell(external('kube-system')), policy);
    expect(violation).toMatchObject({ field: 'spec.database.external.secretRef.namespace', reason: 'SecretNamespaceNotAllowed' });
    expect(violation?.message).toContain('spec.database.external.secretRef names Secret kube-system/db');
  });

  it('reads an external database CA (Secret or ConfigMap) only from the namespaces its Secret may come from', () => {
    const withCa = (namespace: string, kind: 'Secret' | 'ConfigMap' = 'ConfigMap') =>
      exampleCell({
        ...EXAMPLE_CELL_SPEC,
        database: { external: { ...external('team-a').database.external, caRef: { kind, name: 'db-ca', namespace } } },
      });
    for (const namespace of ['cell-operator-system', 'cell-eu-west-1a', 'team-a', 'tenant-x']) expect(cellPolicyViolations(withCa(namespace), policy)).toEqual([]);
    const [violation, ...rest] = cellPolicyViolations(withCa('kube-system'), policy);
    expect(rest).toEqual([]);
    expect(violation).toMatchObject({ field: 'spec.database.external.caRef.namespace', reason: 'CaNamespaceNotAllowed' });
    expect(violation?.message).toContain('spec.database.external.caRef names ConfigMap kube-system/db-ca');
  });

  it('reports both fields when both are refused', () => {
    const cell = exampleCell({ ...external('kube-system'), namespace: 'default' });
    expect(cellPolicyViolations(cell, policy).map((v) => v.field)).toEqual(['spec.namespace', 'spec.database.external.secretRef.namespace']);
  });

  it('refuses workload names that belong to the cell\'s own children, naming spec.workloads', () => {
    const withWorkloads = (...names: string[]) =>
      exampleCell({ ...EXAMPLE_CELL_SPEC, workloads: names.map((name) => ({ name, image: 'registry.example.com/a:1', port: 5432 })) });
    const [violation, ...rest] = cellPolicyViolations(withWorkloads('api', 'eu-west-1a-db', 'eu-west-1a'), policy);
    expect(rest).toEqual([]);
    expect(violation).toMatchObject({ field: 'spec.workloads', reason: 'WorkloadNameConflict' });
    expect(violation?.message).toContain('spec.workloads: eu-west-1a-db, eu-west-1a may not be used');
    expect(workloadNameClashes('kafka-user-x', [{ name: 'x-db-credentials' }])).toEqual(['x-db-credentials']);
    expect(cellPolicyViolations(withWorkloads('api', 'eu-west-1', 'db'), policy)).toEqual([]);
  });

  it('reads the allowlist from --allowed-namespaces and refuses an entry that is no namespace or prefix', () => {
    expect(parseAllowlist(' team-a, ,tenant-* ')).toEqual(['team-a', 'tenant-*']);
    expect(parseOperatorConfig(['--allowed-namespaces', 'team-a,tenant-*'], {}).allowedNamespaces).toEqual(['team-a', 'tenant-*']);
    expect(parseOperatorConfig([], {}).allowedNamespaces).toEqual([]);
    expect(() => parseOperatorConfig(['--allowed-namespaces', 'team-a,Kube_System'], {})).toThrow(/--allowed-namespaces \(or ALLOWED_NAMESPACES\)/);
    expect(() => parseOperatorConfig(['--allowed-namespaces', 'te*am'], {})).toThrow(/allowed-namespaces/);
  });
});
