// Validates objects against the real Strimzi CRD schemas (kafka.strimzi.io/v1 of 1.2.0 and 0.51.0)
// with ajv, reading the structural OpenAPI v3 schemas the way the API server does.
//
// What the API server does and this does too: types, enums, required, minimum/maximum, patterns,
// minItems, `nullable`, `x-kubernetes-int-or-string`. Unknown fields: the API server prunes them
// silently (or rejects them with fieldValidation=Strict), which would lose a mistyped setting
// without a word, so here they are errors unless `x-kubernetes-preserve-unknown-fields` allows them.
// Not checked: CEL rules (`x-kubernetes-validations`) and `metadata` (ObjectMeta is the server's);
// the server-side dry run of the e2e suite covers those.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';

export const STRIMZI_VERSIONS = ['1.2.0', '0.51.0'] as const;
export type StrimziVersion = (typeof STRIMZI_VERSIONS)[number];

const FIXTURES: Record<StrimziVersion, URL> = {
  '1.2.0': new URL('../e2e/fixtures/strimzi-crds.yaml', import.meta.url),
  '0.51.0': new URL('../e2e/fixtures/strimzi-0.51.0-crds.yaml', import.meta.url),
};

const API_VERSION = 'kafka.strimzi.io/v1';

type Schema = Record<string, unknown>;

interface Crd {
  spec: { names: { kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[] };
}

/** Closes every object that Kubernetes would prune (properties listed, no preserve-unknown-fields). */
function closeObjects(schema: Schema, atRoot: boolean): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && value && typeof value === 'object') {
      const props: Record<string, Schema> = {};
      for (const [name, child] of Object.entries(value as Record<string, Schema>)) {
        // ObjectMeta is validated by the API server itself, not by the CRD schema.
        props[name] = atRoot && name === 'metadata' ? { type: 'object' } : closeObjects(child, false);
      }
      out[key] = props;
    } else if ((key === 'items' || key === 'additionalProperties') && value && typeof value === 'object') {
      out[key] = closeObjects(value as Schema, false);
    } else if ((key === 'anyOf' || key === 'oneOf' || key === 'allOf') && Array.isArray(value)) {
      out[key] = value.map((v: Schema) => closeObjects(v, false));
    } else {
      out[key] = value;
    }
  }
  const isObject = schema.type === 'object';
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true || 'additionalProperties' in schema;
  if (isObject && !open) out.additionalProperties = false;
  return out;
}

function newAjv(): Ajv {
  // strict: false because CRD schemas carry keywords ajv does not know in strict mode (`format:
  // int32`); the x-kubernetes-* ones are declared below so their meaning is not silently lost.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: (on: boolean, data: unknown) => !on || typeof data === 'string' || Number.isInteger(data),
    errors: false,
  });
  // Handled by closeObjects (it keeps such objects open); the keyword itself validates nothing.
  ajv.addKeyword({ keyword: 'x-kubernetes-preserve-unknown-fields', schemaType: 'boolean' });
  // CEL rules are evaluated by the API server only (see the e2e dry run).
  ajv.addKeyword({ keyword: 'x-kubernetes-validations', schemaType: 'array' });
  for (const keyword of ['x-kubernetes-list-type', 'x-kubernetes-map-type']) ajv.addKeyword({ keyword, schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-kubernetes-list-map-keys', schemaType: 'array' });
  ajv.addKeyword({ keyword: 'x-kubernetes-embedded-resource', schemaType: 'boolean' });
  return ajv;
}

const validators = new Map<StrimziVersion, Map<string, ValidateFunction>>();

function validatorsFor(version: StrimziVersion): Map<string, ValidateFunction> {
  const cached = validators.get(version);
  if (cached) return cached;
  const ajv = newAjv();
  const byKind = new Map<string, ValidateFunction>();
  for (const doc of parseAllDocuments(readFileSync(FIXTURES[version], 'utf8'))) {
    const crd = doc.toJS() as Crd | null;
    if (!crd?.spec?.versions) continue;
    const v1 = crd.spec.versions.find((v) => v.name === 'v1' && v.served);
    if (!v1) continue;
    byKind.set(crd.spec.names.kind, ajv.compile(closeObjects(v1.schema.openAPIV3Schema, true)));
  }
  validators.set(version, byKind);
  return byKind;
}

/** The kinds whose v1 schema a version serves (Kafka, KafkaNodePool, KafkaTopic, KafkaUser). */
export function strimziKinds(version: StrimziVersion): string[] {
  return [...validatorsFor(version).keys()].sort();
}

function describe(error: ErrorObject): string {
  const where = error.instancePath || '/';
  if (error.keyword === 'additionalProperties') {
    return `${where}: unknown field "${String((error.params as { additionalProperty: string }).additionalProperty)}"`;
  }
  if (error.keyword === 'enum') {
    return `${where}: ${error.message ?? 'invalid'} (${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)})`;
  }
  return `${where}: ${error.message ?? error.keyword}`;
}

/**
 * The errors of `obj` against the v1 schema of its kind in Strimzi `version`; empty when valid.
 * An object of another API version, or of a kind the version does not serve, is an error too.
 */
export function strimziSchemaErrors(version: StrimziVersion, obj: unknown): string[] {
  const o = obj as { apiVersion?: unknown; kind?: unknown } | null;
  if (!o || typeof o !== 'object') return ['/: not an object'];
  if (o.apiVersion !== API_VERSION) return [`/apiVersion: must be ${API_VERSION}, got ${String(o.apiVersion)}`];
  const validate = validatorsFor(version).get(String(o.kind));
  if (!validate) return [`/kind: Strimzi ${version} serves no v1 kind ${String(o.kind)}`];
  if (validate(obj)) return [];
  return (validate.errors ?? []).map(describe);
}
