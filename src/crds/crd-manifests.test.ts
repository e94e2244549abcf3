import { CRD_DEFINITIONS } from './crd-definitions.js';
import { buildCrd, rootSchema } from './crd-manifests.js';
import type { CelRule } from './cel.js';
import { structuralViolations, type SchemaNode } from './to-crd.js';

type Visit = { node: SchemaNode; path: string; ancestors: SchemaNode[] };

/** Every schema node with its path (`spec.steps[]`) and the nodes above it. */
function walk(node: SchemaNode, path = '', ancestors: SchemaNode[] = [], out: Visit[] = []): Visit[] {
  out.push({ node, path, ancestors });
  const below = [...ancestors, node];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, SchemaNode>)) {
    walk(child, path ? `${path}.${name}` : name, below, out);
  }
  if (node.items) walk(node.items as SchemaNode, `${path}[]`, below, out);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    walk(node.additionalProperties as SchemaNode, `${path}{}`, below, out);
  }
  return out;
}

const rules = (n: SchemaNode) => (n['x-kubernetes-validations'] ?? []) as CelRule[];

describe.each(CRD_DEFINITIONS.map((d) => [d.names.kind, d] as const))('the %s CRD', (_kind, def) => {
  const root = rootSchema(def);
  const nodes = walk(root);

  it('is structural: every node has a type (or is int-or-string), no $schema, anyOf only as int-or-string', () => {
    expect(structuralViolations(root)).toEqual([]);
    expect(JSON.stringify(root)).not.toContain('$schema');
    expect(JSON.stringify(root)).not.toContain(String(Number.MAX_SAFE_INTEGER));
  });

  it('describes every field of spec and status, so kubectl explain reads well', () => {
    const undescribed = nodes
      .filter((v) => /^(spec|status)/.test(v.path) && !v.path.endsWith('[]') && !v.path.endsWith('{}'))
      .filter((v) => typeof v.node.description !== 'string' || v.node.description.length < 3)
      .map((v) => v.path);
    expect(undescribed).toEqual([]);
  });

  it('restricts nothing in metadata but the name, as the API server requires', () => {
    const metadata = (root.properties as Record<string, SchemaNode>).metadata as SchemaNode;
    expect(Object.keys(metadata).sort()).toEqual(def.metadataName ? ['properties', 'type'] : ['type']);
    if (metadata.properties) expect(Object.keys(metadata.properties)).toEqual(['name']);
  });

  it('bounds every list, map and string a CEL rule can reach, so the cost estimate stays finite', () => {
    const unbounded: string[] = [];
    for (const { node, path } of nodes.filter((v) => rules(v.node).length > 0)) {
      for (const below of walk(node, path)) {
        const n = below.node;
        if (n.type === 'array' && n.maxItems === undefined) unbounded.push(below.path);
        if (n.type === 'object' && n.additionalProperties && n.maxProperties === undefined) unbounded.push(below.path);
        if (n.type === 'string' && n.maxLength === undefined && n.enum === undefined) unbounded.push(below.path);
      }
    }
    // Rules inside list items run once per item: every list above them needs maxItems too.
    for (const { path, ancestors, node } of nodes.filter((v) => rules(v.node).length > 0)) {
      for (const a of ancestors) if (a.type === 'array' && a.maxItems === undefined) unbounded.push(`${path} (in a list without maxItems)`);
      if (node.type === 'string' && node.maxLength === undefined) unbounded.push(path);
    }
    expect([...new Set(unbounded)]).toEqual([]);
  });

  it('puts transition rules (oldSelf) only where the API server can correlate old and new', () => {
    const misplaced = nodes
      .filter((v) => rules(v.node).some((r) => /\boldSelf\b/.test(r.rule)))
      .filter((v) => v.ancestors.some((a) => a.type === 'array' && a['x-kubernetes-list-type'] !== 'map'))
      .map((v) => v.path);
    expect(misplaced).toEqual([]);
  });

  it('guards optional fields in CEL rules with has(), since defaults are validated before nested defaults apply', () => {
    // A rule reading self.x where x is optional and undefaulted fails with "no such key".
    const unguarded: string[] = [];
    for (const { node, path } of nodes) {
      const props = (node.properties ?? {}) as Record<string, SchemaNode>;
      const required = new Set((node.required ?? []) as string[]);
      for (const r of rules(node)) {
        for (const m of r.rule.matchAll(/\bself\.([A-Za-z_]+)/g)) {
          const field = m[1] as string;
          const prop = props[field];
          if (!prop || required.has(field) || prop.default !== undefined) continue;
          if (!r.rule.includes(`has(self.${field})`)) unguarded.push(`${path}: ${r.rule}`);
        }
      }
    }
    expect(unguarded).toEqual([]);
  });

  it('serves one version, cluster-scoped, with the status subresource and the printer columns', () => {
    const crd = buildCrd(def) as { spec: { scope: string; versions: Record<string, unknown>[]; names: Record<string, unknown> } };
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.versions).toHaveLength(1);
    expect(crd.spec.versions[0]).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(crd.spec.names).toMatchObject({ kind: def.names.kind, shortNames: [...def.names.shortNames], categories: ['cells-platform'] });
    const columns = (crd.spec.versions[0]?.additionalPrinterColumns as { name: string }[]).map((c) => c.name.toUpperCase());
    expect(columns.at(-1)).toBe('AGE');
  });
});

describe('printer columns', () => {
  const columns = (kind: string) =>
    CRD_DEFINITIONS.find((d) => d.names.kind === kind)!
      .printerColumns.filter((c) => !c.priority)
      .map((c) => c.name.toUpperCase());

  it('show what a person checks first', () => {
    // A drain shows in PHASE (Draining) even though spec.state stays Active; a cordon in STATE.
    expect(columns('Cell')).toEqual(['REGION', 'STATE', 'PHASE', 'CUSTOMERS', 'READY', 'AGE']);
    expect(columns('CustomerPlacement')).toEqual(['CELL', 'STATE', 'EPOCH', 'AGE']);
    expect(columns('Migration')).toEqual(['FROM', 'TO', 'PHASE', 'STEP', 'PROGRESS', 'AGE']);
  });

  it('use short names that are no kubectl command nor a built-in resource', () => {
    const shortNames = CRD_DEFINITIONS.flatMap((d) => d.names.shortNames);
    // kubectl's own commands read like verbs (`kubectl get cp` looks like `kubectl cp`), and the
    // built-in short names would be shadowed; test/e2e/printer-columns.test.ts checks the live API server.
    const taken = ['cp', 'get', 'run', 'exec', 'logs', 'top', 'cs', 'cm', 'ep', 'ev', 'ds', 'rs', 'rc', 'sa', 'sc', 'no', 'ns', 'po', 'pv', 'pvc', 'svc', 'sts', 'ing', 'hpa', 'pdb', 'crd', 'csr', 'pc', 'deploy', 'netpol', 'quota', 'limits', 'cj'];
    expect(shortNames.filter((n) => taken.includes(n))).toEqual([]);
    expect(new Set(shortNames).size).toBe(shortNames.length);
  });

  it('read READY from the Ready condition', () => {
    const ready = CRD_DEFINITIONS[0]!.printerColumns.find((c) => c.name === 'Ready');
    expect(ready?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].status');
  });
});
