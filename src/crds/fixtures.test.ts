// The samples (config/samples/) and the invalid manifests of the e2e suite
// (test/e2e/fixtures/invalid/), checked without a server: the zod schemas and the generated
// structural schemas (through ajv, standing in for the API server's OpenAPI validation) must agree
// with each fixture's `# expect-field:` line. CEL rules are checked by zod's twin of each rule.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { listRepoDir, loadYaml, readRepoFile } from '../../test/support/repo-files.js';
import type { CelRule } from './cel.js';
import { CRD_DEFINITIONS, type CrdDefinition } from './crd-definitions.js';
import { rootSchema } from './crd-manifests.js';
import { formatPath, parseWith } from './parse.js';
import { fieldPathSegments } from './cel.js';
import type { SchemaNode } from './to-crd.js';

type Manifest = Record<string, unknown> & { kind?: string; metadata?: { name?: string }; spec?: unknown };

const definitionOf = (m: Manifest): CrdDefinition => {
  const def = CRD_DEFINITIONS.find((d) => d.names.kind === m.kind);
  if (!def) throw new Error(`unknown kind ${String(m.kind)}`);
  return def;
};

/** Fields the zod side refuses: metadata.name restriction plus the spec schema (CEL twins included). */
function zodErrors(m: Manifest): string[] {
  const def = definitionOf(m);
  const errors: string[] = [];
  const name = m.metadata?.name ?? '';
  if (def.metadataName && !(name.length <= def.metadataName.maxLength && def.metadataName.pattern.test(name))) errors.push('metadata.name');
  const result = parseWith(def.spec, m.spec, 'spec');
  if (!result.ok) errors.push(...result.errors.map((e) => e.path));
  return errors;
}

const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
ajv.addFormat('date-time', { validate: (s: string) => !Number.isNaN(Date.parse(s)) });
const validators = new Map<string, ValidateFunction>(CRD_DEFINITIONS.map((d) => [d.names.kind, ajv.compile(rootSchema(d))]));

function pointerToPath(error: ErrorObject): string {
  const segments: (string | number)[] = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
  if (error.keyword === 'required') segments.push((error.params as { missingProperty: string }).missingProperty);
  return formatPath('', segments);
}

/** Fields the generated OpenAPI schema refuses (no CEL, no list-type uniqueness). */
function schemaErrors(m: Manifest): string[] {
  const validate = validators.get(m.kind as string) as ValidateFunction;
  if (validate(structuredClone(m))) return [];
  return [...new Set((validate.errors ?? []).map(pointerToPath))];
}

interface RuleSite {
  path: string;
  transition: boolean;
}

/** Where each CEL rule reports (node path plus fieldPath), with list indexes written as []. */
function ruleSites(node: SchemaNode, path = '', out: RuleSite[] = []): RuleSite[] {
  for (const r of (node['x-kubernetes-validations'] ?? []) as CelRule[]) {
    const at = [path, ...fieldPathSegments(r.fieldPath)].filter(Boolean).join('.');
    out.push({ path: at, transition: /\boldSelf\b/.test(r.rule) && !r.optionalOldSelf });
  }
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, SchemaNode>)) {
    ruleSites(child, path ? `${path}.${name}` : name, out);
  }
  if (node.items) ruleSites(node.items as SchemaNode, `${path}[]`, out);
  return out;
}

/** The schema node at a field path such as spec.workloads[1] (indexes step into items). */
function nodeAt(root: SchemaNode, path: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const part of path.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (!node) return undefined;
    node = part.startsWith('[') ? (node.items as SchemaNode) : ((node.properties as Record<string, SchemaNode> | undefined)?.[part]);
  }
  return node;
}

const normalize = (path: string) => path.replace(/\[\d+\]/g, '[]');

function valueAt(m: unknown, path: string): unknown {
  let v: unknown = m;
  for (const part of path.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part.startsWith('[') ? Number(part.slice(1, -1)) : part];
  }
  return v;
}

interface Fixture {
  file: string;
  field: string;
  twoStep: boolean;
  docs: Manifest[];
}

const fixtures: Fixture[] = listRepoDir('test/e2e/fixtures/invalid').map((file) => {
  const text = readRepoFile(file);
  const field = /^# expect-field: (\S+)\s*$/m.exec(text)?.[1];
  if (!field) throw new Error(`${file}: no "# expect-field:" line`);
  return { file, field, twoStep: /^# steps: create-then-update\s*$/m.test(text), docs: loadYaml(file) as Manifest[] };
});

describe('samples', () => {
  it.each(listRepoDir('config/samples'))('%s is valid for zod and for the generated schema', (file) => {
    for (const m of loadYaml(file) as Manifest[]) {
      expect({ file, zod: zodErrors(m), schema: schemaErrors(m) }).toEqual({ file, zod: [], schema: [] });
    }
  });

  it('cover every kind', () => {
    const kinds = listRepoDir('config/samples').flatMap((f) => loadYaml(f).map((m) => m.kind));
    expect(new Set(kinds)).toEqual(new Set(CRD_DEFINITIONS.map((d) => d.names.kind)));
  });
});

describe('invalid fixtures', () => {
  it('exist for every kind, with comments the e2e suite can read', () => {
    const kinds = new Set(fixtures.map((f) => f.docs[0]?.kind));
    expect(kinds).toEqual(new Set(CRD_DEFINITIONS.map((d) => d.names.kind)));
    for (const f of fixtures) expect({ file: f.file, docs: f.docs.length }).toEqual({ file: f.file, docs: f.twoStep ? 2 : 1 });
  });

  const single = fixtures.filter((f) => !f.twoStep);
  it.each(single.map((f) => [f.file, f] as const))('%s is refused at the expected field', (_file, f) => {
    const m = f.docs[0] as Manifest;
    const root = rootSchema(definitionOf(m));
    // zod (with the CEL twins) names the field...
    expect(zodErrors(m)).toContain(f.field);
    // ...and so does the API server: by its OpenAPI schema, a CEL rule reporting there, or list-type uniqueness.
    const bySchema = schemaErrors(m).includes(f.field);
    const byCel = ruleSites(root).some((s) => !s.transition && s.path === normalize(f.field));
    const listType = /\[\d+\]$/.test(f.field) ? nodeAt(root, f.field.replace(/\[\d+\]$/, ''))?.['x-kubernetes-list-type'] : undefined;
    const byUniqueness = listType === 'map' || listType === 'set';
    expect({ field: f.field, bySchema, byCel, byUniqueness }).toEqual(expect.objectContaining({ field: f.field }));
    expect(bySchema || byCel || byUniqueness).toBe(true);
  });

  const twoStep = fixtures.filter((f) => f.twoStep);
  it.each(twoStep.map((f) => [f.file, f] as const))('%s is a valid object, then an update a transition rule refuses', (_file, f) => {
    const [before, after] = f.docs as [Manifest, Manifest];
    expect([zodErrors(before), schemaErrors(before), zodErrors(after), schemaErrors(after)]).toEqual([[], [], [], []]);
    expect(valueAt(after, f.field)).not.toEqual(valueAt(before, f.field));
    const sites = ruleSites(rootSchema(definitionOf(before)));
    expect(sites.some((s) => s.transition && s.path === normalize(f.field))).toBe(true);
  });
});
