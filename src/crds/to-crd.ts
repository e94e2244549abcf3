// zod schema → Kubernetes structural OpenAPI v3 schema. z.toJSONSchema is close, but the API
// server refuses what it adds beyond the structural subset (anyOf across types, $schema, unknown
// keywords) and what it misses (a type on every node); this module closes the gap and refuses,
// with the field path, anything it cannot translate faithfully.
import { z } from 'zod';
import { CEL_KEY, fieldPathSegments, type CelRule } from './cel.js';

/** A node of an OpenAPI v3 schema as apiextensions.k8s.io/v1 JSONSchemaProps accepts it. */
export type SchemaNode = { [key: string]: unknown };

export class NotStructuralError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path || '<root>'}: ${detail}`);
    this.name = 'NotStructuralError';
  }
}

export interface ConvertOptions {
  /** Refuse properties without a description (kubectl explain would show nothing). Default true. */
  requireDescriptions?: boolean;
}

/** The keywords of JSONSchemaProps; anything else from zod is either translated or refused. */
const ALLOWED_KEYS = new Set([
  'type',
  'format',
  'description',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'properties',
  'additionalProperties',
  'nullable',
  'example',
  'anyOf',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

/** Keywords zod emits that carry no validation the API server could use. */
const DROPPED_KEYS = new Set(['$schema', '$id', 'id', 'title', 'examples', 'propertyNames', '$comment']);

/** Formats kube-openapi validates; zod's others (cuid, emoji, ...) would be silently ignored. */
const KUBE_FORMATS = new Set([
  'bsonobjectid',
  'uri',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'cidr',
  'mac',
  'uuid',
  'uuid3',
  'uuid4',
  'uuid5',
  'byte',
  'password',
  'date',
  'date-time',
  'duration',
  'int32',
  'int64',
  'float',
  'double',
]);

/** Formats whose zod pattern only repeats what the format already checks (and reads badly). */
const FORMATS_WITHOUT_PATTERN = new Set(['date-time', 'date', 'email', 'uuid', 'ipv4', 'ipv6', 'uri']);

// CEL reserved words: a field with one of these names is reached as self.__name__ in a rule.
// `self.namespace` compiles, but to something else: the API server then refuses the CRD for cost.
const CEL_RESERVED =
  /\.(namespace|break|const|continue|else|for|function|if|import|let|loop|package|return|var|void|while|in|as|true|false|null)\b/;

const CEL_REASONS = new Set(['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired', 'FieldValueDuplicate']);

// zod's bounds for z.int(): the JSON-safe integer range, meaningless to an int64 API field.
const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]);

const NUMERIC_KEYS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
const STRING_KEYS = ['pattern', 'minLength', 'maxLength'];

/** Converts a zod schema to a structural schema (input side: defaults are optional on the wire). */
export function zodToStructural(schema: z.ZodType, options: ConvertOptions = {}, path = ''): SchemaNode {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'throw',
    reused: 'inline',
    cycles: 'throw',
    override: (ctx) => {
      // A tuple comes out as a list of a union, which would silently accept any order.
      if (ctx.zodSchema._zod.def.type === 'tuple') {
        throw new NotStructuralError(jsonPointerToPath(path, ctx.path), 'a tuple has no structural equivalent');
      }
    },
  }) as SchemaNode;
  return toStructural(json, options, path);
}

/** Converts a JSON schema as z.toJSONSchema emits it (openapi-3.0 target) to a structural one. */
export function toStructural(json: SchemaNode, options: ConvertOptions = {}, path = ''): SchemaNode {
  return convertNode(json, path, { requireDescriptions: options.requireDescriptions ?? true });
}

/** Turns a JSON-schema location (properties/a/items/…) into a field path (a[*]). */
function jsonPointerToPath(prefix: string, pointer: readonly (string | number)[]): string {
  let out = prefix;
  for (let i = 0; i < pointer.length; i++) {
    const key = pointer[i];
    if (key === 'properties') out += `${out ? '.' : ''}${String(pointer[++i])}`;
    else if (key === 'items' || key === 'additionalProperties') out += '[*]';
  }
  return out;
}

function isObject(v: unknown): v is SchemaNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function convertNode(input: SchemaNode, path: string, opts: Required<ConvertOptions>): SchemaNode {
  let node: SchemaNode = { ...input };
  for (const key of DROPPED_KEYS) delete node[key];
  for (const key of ['$ref', '$defs', 'definitions', 'allOf', 'oneOf', 'not', 'prefixItems', 'patternProperties']) {
    if (key in node) throw new NotStructuralError(path, `"${key}" has no structural equivalent (intersections, tuples and recursive schemas are not supported)`);
  }
  if ('const' in node) {
    node.enum = [node.const];
    delete node.const;
  }
  if ('anyOf' in node) node = collapseAnyOf(node, path);

  const type = node.type;
  if (Array.isArray(type)) throw new NotStructuralError(path, `type must be a single type, got ${JSON.stringify(type)}`);
  if (type === undefined && !node['x-kubernetes-int-or-string'] && !node['x-kubernetes-preserve-unknown-fields']) {
    throw new NotStructuralError(path, 'has no type (z.unknown()/z.any() need .meta({"x-kubernetes-preserve-unknown-fields": true}) and type object)');
  }

  if (type === 'integer' || type === 'number') dropSafeIntegerBounds(node);
  if (typeof node.pattern === 'string') {
    // RegExp.source escapes "/", which Go accepts but nobody reading the CRD needs.
    node.pattern = node.pattern.replace(/\\\//g, '/');
    checkRe2(node.pattern as string, path);
  }
  if (typeof node.format === 'string') {
    if (!KUBE_FORMATS.has(node.format)) throw new NotStructuralError(path, `format "${node.format}" is not one the API server validates`);
    if (FORMATS_WITHOUT_PATTERN.has(node.format)) delete node.pattern;
  }

  if (type === 'object') convertObject(node, path, opts);
  if (type === 'array') convertArray(node, path, opts);
  if (type !== 'object' && ('properties' in node || 'additionalProperties' in node)) {
    throw new NotStructuralError(path, 'properties on a non-object');
  }

  if (node[CEL_KEY] !== undefined) checkRules(node, path);
  if (node.default !== undefined) checkDefault(node, path);

  for (const key of Object.keys(node)) {
    if (!ALLOWED_KEYS.has(key)) throw new NotStructuralError(path, `keyword "${key}" is not allowed in a CRD schema`);
  }
  return sortKeys(node);
}

/**
 * anyOf is structural only as the int-or-string pattern. zod's `z.union([z.int(), z.string()])`
 * becomes `x-kubernetes-int-or-string` with each branch's checks lifted to the node: the API server
 * applies numeric checks to numbers only and string checks to strings only.
 */
function collapseAnyOf(node: SchemaNode, path: string): SchemaNode {
  const branches = node.anyOf;
  if (!Array.isArray(branches) || !branches.every(isObject)) throw new NotStructuralError(path, 'anyOf must be a list of schemas');
  const intBranch = branches.find((b) => b.type === 'integer');
  const stringBranch = branches.find((b) => b.type === 'string');
  if (branches.length !== 2 || !intBranch || !stringBranch) {
    const types = branches.map((b) => b.type ?? '?').join(' | ');
    throw new NotStructuralError(path, `union of ${types} is not structural: only integer | string (x-kubernetes-int-or-string) is supported; use z.enum for alternatives of one type`);
  }
  const out: SchemaNode = { ...node };
  delete out.anyOf;
  for (const [branch, keys] of [
    [intBranch, NUMERIC_KEYS],
    [stringBranch, STRING_KEYS],
  ] as const) {
    for (const [key, value] of Object.entries(branch)) {
      if (key === 'type' || DROPPED_KEYS.has(key)) continue;
      if (!keys.includes(key)) throw new NotStructuralError(path, `int-or-string cannot carry "${key}" from its ${String(branch.type)} branch`);
      if (key in out) throw new NotStructuralError(path, `int-or-string: "${key}" set twice`);
      out[key] = value;
    }
  }
  dropSafeIntegerBounds(out);
  out['x-kubernetes-int-or-string'] = true;
  // The one anyOf the API server accepts; it also makes the validator refuse booleans and floats.
  out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  return out;
}

function dropSafeIntegerBounds(node: SchemaNode): void {
  for (const key of ['minimum', 'maximum']) {
    if (typeof node[key] === 'number' && SAFE_INTEGER_BOUNDS.has(node[key] as number)) delete node[key];
  }
}

function convertObject(node: SchemaNode, path: string, opts: Required<ConvertOptions>): void {
  const properties = node.properties;
  const additional = node.additionalProperties;
  if (properties !== undefined) {
    if (!isObject(properties)) throw new NotStructuralError(path, 'properties must be an object');
    const converted: SchemaNode = {};
    for (const [name, child] of Object.entries(properties)) {
      const childPath = path ? `${path}.${name}` : name;
      if (!isObject(child)) throw new NotStructuralError(childPath, 'property schema must be an object');
      if (opts.requireDescriptions && typeof child.description !== 'string') {
        throw new NotStructuralError(childPath, 'has no description (add .describe(): kubectl explain shows it)');
      }
      converted[name] = convertNode(child, childPath, opts);
    }
    node.properties = converted;
  }
  if (additional === false) {
    // zod's strict objects; unknown fields are pruned by the API server anyway.
    delete node.additionalProperties;
  } else if (additional === true || (isObject(additional) && Object.keys(additional).length === 0)) {
    // z.looseObject(): any extra field is allowed and kept.
    delete node.additionalProperties;
    node['x-kubernetes-preserve-unknown-fields'] = true;
  } else if (additional !== undefined) {
    if (!isObject(additional)) throw new NotStructuralError(path, 'additionalProperties must be a schema');
    if (properties !== undefined) throw new NotStructuralError(path, 'properties and additionalProperties are mutually exclusive');
    node.additionalProperties = convertNode(additional, `${path}[*]`, opts);
  }
  if (node.required !== undefined) {
    const required = node.required as string[];
    for (const name of required) {
      if (!isObject(node.properties) || !(name in node.properties)) throw new NotStructuralError(path, `required "${name}" is not a property`);
    }
    node.required = [...required].sort();
    if (required.length === 0) delete node.required;
  }
}

function convertArray(node: SchemaNode, path: string, opts: Required<ConvertOptions>): void {
  const items = node.items;
  if (!isObject(items)) throw new NotStructuralError(path, 'an array needs a single items schema');
  const converted = convertNode(items, `${path}[*]`, opts);
  node.items = converted;
  const listType = (node['x-kubernetes-list-type'] ??= 'atomic');
  if (!['atomic', 'set', 'map'].includes(listType as string)) throw new NotStructuralError(path, `unknown list type ${String(listType)}`);
  if (listType === 'set' && converted.type === 'object') throw new NotStructuralError(path, 'a set list must hold scalars');
  if (listType === 'map') {
    const keys = node['x-kubernetes-list-map-keys'];
    if (!Array.isArray(keys) || keys.length === 0) throw new NotStructuralError(path, 'a map list needs x-kubernetes-list-map-keys');
    if (converted.type !== 'object') throw new NotStructuralError(path, 'a map list must hold objects');
    const props = (converted.properties ?? {}) as Record<string, SchemaNode>;
    const required = (converted.required ?? []) as string[];
    for (const key of keys as string[]) {
      const prop = props[key];
      if (!prop) throw new NotStructuralError(path, `map key "${key}" is not a property of the items`);
      if (prop.type === 'object' || prop.type === 'array') throw new NotStructuralError(path, `map key "${key}" must be a scalar`);
      if (!required.includes(key) && prop.default === undefined) throw new NotStructuralError(path, `map key "${key}" must be required or have a default`);
      if (prop.nullable) throw new NotStructuralError(path, `map key "${key}" cannot be nullable`);
    }
  } else if ('x-kubernetes-list-map-keys' in node) {
    throw new NotStructuralError(path, 'x-kubernetes-list-map-keys needs x-kubernetes-list-type: map');
  }
}

function checkRules(node: SchemaNode, path: string): void {
  const rules = node[CEL_KEY];
  if (!Array.isArray(rules)) throw new NotStructuralError(path, `${CEL_KEY} must be a list`);
  for (const r of rules as CelRule[]) {
    if (!r.rule?.trim()) throw new NotStructuralError(path, 'a validation rule needs a rule');
    const reserved = CEL_RESERVED.exec(r.rule);
    if (reserved) throw new NotStructuralError(path, `rule ${r.rule}: "${reserved[1]}" is a CEL reserved word; write .__${reserved[1]}__`);
    if (!r.message?.trim() || /[\r\n]/.test(r.message)) throw new NotStructuralError(path, `rule ${r.rule}: needs a one-line message`);
    if (r.reason !== undefined && !CEL_REASONS.has(r.reason)) throw new NotStructuralError(path, `rule ${r.rule}: unsupported reason ${r.reason}`);
    if (r.fieldPath !== undefined) {
      let at: SchemaNode | undefined = node;
      for (const segment of fieldPathSegments(r.fieldPath)) {
        const props: Record<string, SchemaNode> | undefined = isObject(at?.properties) ? (at.properties as Record<string, SchemaNode>) : undefined;
        at = props?.[segment];
      }
      if (!at) throw new NotStructuralError(path, `rule ${r.rule}: fieldPath ${r.fieldPath} is not a field of this object`);
    }
  }
}

/**
 * The API server validates each default as it is written (nested defaults are not applied to it),
 * so an object default must already hold every required field.
 */
function checkDefault(node: SchemaNode, path: string): void {
  const value = node.default;
  if (node.type === 'object' && isObject(value)) {
    for (const name of (node.required ?? []) as string[]) {
      if (!(name in value)) throw new NotStructuralError(path, `default lacks the required field "${name}"`);
    }
  }
}

/** Refuses regex syntax that RE2 (Go, the API server) does not support. */
export function checkRe2(pattern: string, path = ''): void {
  if (/\(\?(=|!|<=|<!)/.test(pattern)) throw new NotStructuralError(path, `pattern ${pattern} uses a lookaround, which RE2 does not support`);
  if (/\\[1-9]/.test(pattern)) throw new NotStructuralError(path, `pattern ${pattern} uses a backreference, which RE2 does not support`);
  if (/[*+?}][+]/.test(pattern.replace(/\\./g, ''))) throw new NotStructuralError(path, `pattern ${pattern} uses a possessive quantifier`);
}

/** Stable key order, so that generated files only change when the schema does. */
export function sortKeys(node: SchemaNode): SchemaNode {
  const out: SchemaNode = {};
  for (const key of Object.keys(node).sort()) {
    const value = node[key];
    out[key] = key === 'properties' && isObject(value) ? sortRecord(value) : value;
  }
  return out;
}

function sortRecord(record: SchemaNode): SchemaNode {
  const out: SchemaNode = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out;
}

/**
 * Lists what makes a schema non-structural (empty when it is structural): every node needs a type
 * unless it is int-or-string or preserves unknown fields, anyOf only in the int-or-string pattern.
 */
export function structuralViolations(node: SchemaNode, path = ''): string[] {
  const out: string[] = [];
  const visit = (n: SchemaNode, p: string) => {
    if (n.type === undefined && !n['x-kubernetes-int-or-string'] && !n['x-kubernetes-preserve-unknown-fields']) out.push(`${p || '<root>'}: no type`);
    if ('$schema' in n || '$ref' in n || 'allOf' in n || 'oneOf' in n) out.push(`${p || '<root>'}: non-structural keyword`);
    if ('anyOf' in n) {
      const ok =
        n['x-kubernetes-int-or-string'] === true &&
        JSON.stringify(n.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
      if (!ok) out.push(`${p || '<root>'}: anyOf other than the int-or-string pattern`);
    }
    if (n.maximum === Number.MAX_SAFE_INTEGER || n.minimum === -Number.MAX_SAFE_INTEGER) out.push(`${p || '<root>'}: JS safe-integer bound`);
    if (n.type === 'array' && !isObject(n.items)) out.push(`${p || '<root>'}: array without items`);
    if (isObject(n.properties)) {
      if (n.type !== 'object') out.push(`${p || '<root>'}: properties without type object`);
      for (const [k, v] of Object.entries(n.properties)) if (isObject(v)) visit(v, p ? `${p}.${k}` : k);
    }
    if (isObject(n.additionalProperties)) visit(n.additionalProperties, `${p}[*]`);
    if (isObject(n.items)) visit(n.items, `${p}[*]`);
  };
  visit(node, path);
  return out;
}
