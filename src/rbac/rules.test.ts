import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHILD_KINDS } from '../controllers/cell/cell-children.js';
import { CHART_RULES_PATH, REGENERATE_RBAC_COMMAND, rbacFiles } from './render.js';
import { CHILD_PLURALS, OPERATOR_RULES, leaderElectionRules, wildcards, type ExplainedRule } from './rules.js';

const root = join(import.meta.dirname, '..', '..');

const grants = (rules: readonly ExplainedRule[], group: string, resource: string, verb: string) =>
  rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && !r.resourceNames);

describe('the operator RBAC rules', () => {
  it('name no wildcard in any apiGroup, resource, verb or resource name', () => {
    expect(wildcards([...OPERATOR_RULES, ...leaderElectionRules()])).toEqual([]);
  });

  it('let the Cell controller watch and apply every kind it creates, and delete only those it prunes', () => {
    for (const child of CHILD_KINDS) {
      const group = child.apiVersion.includes('/') ? child.apiVersion.split('/')[0]! : '';
      const granted = ['get', 'list', 'watch', 'create', 'patch', 'delete'].filter((verb) => grants(OPERATOR_RULES, group, CHILD_PLURALS[child.kind], verb));
      const read = child.kind === 'Secret' || child.kind === 'ConfigMap' ? ['get'] : ['list', 'watch'];
      const expected = [...read, 'create', 'patch', ...(child.pruned ? ['delete'] : [])];
      expect({ kind: child.kind, granted }).toEqual({ kind: child.kind, granted: expected });
    }
  });

  it('never list or watch Secrets or ConfigMaps: the operator cannot enumerate them, only read one by name', () => {
    for (const plural of ['secrets', 'configmaps']) {
      expect(grants(OPERATOR_RULES, '', plural, 'list')).toBe(false);
      expect(grants(OPERATOR_RULES, '', plural, 'watch')).toBe(false);
      expect(grants(OPERATOR_RULES, '', plural, 'get')).toBe(true);
      expect(grants(OPERATOR_RULES, '', plural, 'delete')).toBe(false);
    }
  });

  it('grant no get on what the operator reads from informers, and nothing but status on CustomerPlacements', () => {
    for (const plural of ['cells', 'customerplacements', 'migrations']) expect(grants(OPERATOR_RULES, 'cells.platform.io', plural, 'get')).toBe(false);
    expect(grants(OPERATOR_RULES, 'cells.platform.io', 'customerplacements', 'patch')).toBe(false);
    expect(grants(OPERATOR_RULES, 'cells.platform.io', 'customerplacements/status', 'patch')).toBe(true);
  });

  it('never allow update of a spec, escalate, bind, impersonate or deletecollection', () => {
    const verbs = new Set(OPERATOR_RULES.flatMap((r) => r.verbs));
    for (const verb of ['escalate', 'bind', 'impersonate', 'deletecollection']) expect(verbs.has(verb)).toBe(false);
    const updatable = OPERATOR_RULES.filter((r) => r.verbs.includes('update')).flatMap((r) => r.resources);
    expect(updatable).toEqual(['cells/finalizers']);
  });

  it('limit get and update of the leader-election Lease to its name', () => {
    const rules = leaderElectionRules('my-lease');
    expect(rules.filter((r) => r.verbs.includes('update')).map((r) => r.resourceNames)).toEqual([['my-lease']]);
    expect(rules.flatMap((r) => r.resources)).toEqual(['leases', 'leases']);
  });

  it('say why for every rule', () => {
    for (const rule of [...OPERATOR_RULES, ...leaderElectionRules()]) expect(rule.why.length).toBeGreaterThan(20);
  });
});

describe('the generated RBAC files', () => {
  it(`are up to date (run \`${REGENERATE_RBAC_COMMAND}\` when this fails)`, () => {
    for (const [path, content] of Object.entries(rbacFiles())) {
      let committed: string;
      try {
        committed = readFileSync(join(root, path), 'utf8');
      } catch {
        throw new Error(`${path} is missing: run \`${REGENERATE_RBAC_COMMAND}\``);
      }
      if (committed !== content) throw new Error(`${path} is stale: run \`${REGENERATE_RBAC_COMMAND}\``);
    }
  });

  it('have no wildcard anywhere in config/rbac', () => {
    const dir = join(root, 'config', 'rbac');
    const problems: string[] = [];
    let roles = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
        const obj = doc.toJS() as { kind?: string; rules?: ExplainedRule[] } | null;
        if (obj?.kind !== 'ClusterRole' && obj?.kind !== 'Role') continue;
        roles++;
        problems.push(...wildcards(obj.rules ?? []).map((w) => `${file}: ${w}`));
      }
    }
    expect(roles).toBe(2);
    expect(problems).toEqual([]);
  });

  it('give the chart the same rules as config/rbac', () => {
    const tpl = readFileSync(join(root, CHART_RULES_PATH), 'utf8');
    const operatorBlock = /define "cell-operator.rules.operator" }}\n([\s\S]*?){{- end }}/.exec(tpl)?.[1] ?? '';
    const plain = parseAllDocuments(readFileSync(join(root, 'config/rbac/role.yaml'), 'utf8'))[0]!.toJS() as { rules: unknown[] };
    const parsed: unknown = parseAllDocuments(operatorBlock)[0]!.toJS();
    expect(parsed).toEqual(plain.rules);
  });
});
