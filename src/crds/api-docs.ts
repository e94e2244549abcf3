// The API reference (docs/api.md), rendered from the same structural schemas the API server gets,
// so the documented defaults and validations are the enforced ones.
import type { CrdDefinition } from './crd-definitions.js';
import { generatedHeader, rootSchema } from './crd-manifests.js';
import { CATEGORY, GROUP, VERSION } from './group.js';
import type { SchemaNode } from './to-crd.js';
import type { CelRule } from './cel.js';

interface Row {
  path: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
  validations: string[];
}

function isObject(v: unknown): v is SchemaNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(node: SchemaNode): string {
  if (node['x-kubernetes-int-or-string']) return 'int-or-string';
  if (node.type === 'array' && isObject(node.items)) return `[]${typeName(node.items)}`;
  if (node.type === 'object' && isObject(node.additionalProperties)) return `map[string]${typeName(node.additionalProperties)}`;
  return String(node.type);
}

function code(text: unknown): string {
  return `\`${String(text)}\``;
}

function validationsOf(node: SchemaNode): string[] {
  const out: string[] = [];
  if (Array.isArray(node.enum)) out.push(`one of ${node.enum.map(code).join(', ')}`);
  if (node.minimum !== undefined) out.push(`${node.exclusiveMinimum ? '>' : '>='} ${String(node.minimum)}`);
  if (node.maximum !== undefined) out.push(`${node.exclusiveMaximum ? '<' : '<='} ${String(node.maximum)}`);
  if (node.minLength !== undefined) out.push(`length >= ${String(node.minLength)}`);
  if (node.maxLength !== undefined) out.push(`length <= ${String(node.maxLength)}`);
  if (node.pattern !== undefined) out.push(`pattern ${code(node.pattern)}`);
  if (node.format !== undefined) out.push(`format ${code(node.format)}`);
  if (node.minItems !== undefined) out.push(`at least ${String(node.minItems)} items`);
  if (node.maxItems !== undefined) out.push(`at most ${String(node.maxItems)} items`);
  if (node.maxProperties !== undefined) out.push(`at most ${String(node.maxProperties)} entries`);
  if (node['x-kubernetes-list-type'] === 'map') {
    out.push(`list merged by ${(node['x-kubernetes-list-map-keys'] as string[]).map(code).join(', ')} (unique)`);
  }
  if (node['x-kubernetes-list-type'] === 'set') out.push('unique items');
  for (const r of (node['x-kubernetes-validations'] ?? []) as CelRule[]) {
    out.push(`${r.message} (CEL ${code(r.rule)}${r.fieldPath ? ` on ${code(r.fieldPath)}` : ''})`);
  }
  return out;
}

function collect(node: SchemaNode, path: string, required: boolean, rows: Row[]): void {
  rows.push({
    path,
    type: typeName(node),
    required,
    default: node.default,
    description: String(node.description ?? ''),
    validations: validationsOf(node),
  });
  // Item-level rules and bounds of a list of objects are documented on the item's row.
  const target = node.type === 'array' && isObject(node.items) ? node.items : node;
  const itemPath = target === node ? path : `${path}[]`;
  if (target !== node && target.type === 'object') {
    const own = validationsOf(target);
    if (own.length > 0) rows.push({ path: itemPath, type: 'object', required: false, description: String(target.description ?? 'Each item.'), validations: own });
  }
  if (isObject(target.properties)) {
    const req = new Set((target.required ?? []) as string[]);
    for (const [name, child] of Object.entries(target.properties)) {
      if (isObject(child)) collect(child, `${itemPath}.${name}`, req.has(name), rows);
    }
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function renderKind(def: CrdDefinition): string {
  const root = rootSchema(def);
  const props = root.properties as Record<string, SchemaNode>;
  const rows: Row[] = [];
  const rootRequired = new Set((root.required ?? []) as string[]);
  for (const part of ['spec', 'status'] as const) collect(props[part] as SchemaNode, part, rootRequired.has(part), rows);

  const lines = [
    `## ${def.names.kind}`,
    '',
    def.description,
    '',
    `- \`apiVersion: ${GROUP}/${VERSION}\`, cluster-scoped; \`kubectl get ${def.names.plural}\`, short name ${def.names.shortNames.map(code).join(', ')}, category ${code(CATEGORY)}.`,
  ];
  if (def.metadataName) {
    lines.push(`- \`metadata.name\`: at most ${def.metadataName.maxLength} characters, pattern ${code(def.metadataName.pattern.source)}.`);
  }
  lines.push(
    `- Columns: ${def.printerColumns.map((c) => `${c.name.toUpperCase()} (${code(c.jsonPath)}${c.priority ? ', wide' : ''})`).join(', ')}.`,
    `- Field selectors: ${def.selectableFields.map(code).join(', ')}.`,
    '',
    '| Field | Type | Required | Default | Description | Validation |',
    '|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    const def = r.default === undefined ? '' : code(JSON.stringify(r.default));
    lines.push(
      `| ${code(r.path)} | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(def)} | ${cell(r.description)} | ${cell(r.validations.join('; '))} |`,
    );
  }
  return lines.join('\n');
}

export function renderApiDocs(defs: readonly CrdDefinition[]): string {
  const sources = defs.map((d) => d.source).join(', ');
  return [
    generatedHeader(sources, 'html'),
    `# API reference: ${GROUP}/${VERSION}`,
    '',
    'The operator serves three cluster-scoped kinds. Defaults are filled in by the API server; every',
    'validation below is enforced by the API server when an object is created or updated (the CEL',
    'rules that mention oldSelf compare an update with the stored object).',
    '',
    ...defs.map((d) => `${renderKind(d)}\n`),
  ].join('\n');
}
