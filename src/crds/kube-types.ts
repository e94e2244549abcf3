// Field shapes borrowed from Kubernetes (quantities, durations, resources, label selectors,
// environment variables, Secret references), in the subset the three kinds need, with the bounds
// that keep the API server's CEL cost estimate low.
import { z } from 'zod';
import { listMap, withCel } from './cel.js';
import { DnsSubdomainSchema } from './names.js';

/**
 * A map with at most `max` entries. The bound reaches the CRD as maxProperties, which the API
 * server's CEL cost estimator needs whenever a rule compares or iterates the map.
 */
export function boundedRecord<K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V, max: number) {
  return z
    .record(key, value)
    .refine((o) => Object.keys(o).length <= max, { message: `must have at most ${max} entries` })
    .meta({ maxProperties: max });
}

/** The pattern of resource.Quantity, as in the Kubernetes OpenAPI (`500m`, `2Gi`, `1.5`, `1e3`). */
export const QUANTITY_PATTERN =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A resource quantity: an integer or a string such as `500m` or `2Gi` (fractions as strings: "0.5"). */
export const QuantitySchema = z.union([z.int().min(0), z.string().max(64).regex(QUANTITY_PATTERN)]);

/** A storage size: a positive quantity string such as `20Gi` or `1Ti`. */
export const STORAGE_SIZE_PATTERN = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
export const StorageSizeSchema = z.string().min(1).max(64).regex(STORAGE_SIZE_PATTERN, 'must be a size such as 20Gi');

/** A duration in Go syntax: one or more number-unit pairs (`30s`, `10m`, `1h30m`, `500ms`). */
export const DURATION_PATTERN = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
export const DurationSchema = z
  .string()
  .min(2)
  .max(32)
  .regex(DURATION_PATTERN, 'must be a duration such as 30s, 10m or 1h30m');

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration within [min, max] ms; a malformed one passes here (the pattern reports it). */
export function durationWithin(d: string, min: number, max: number): boolean {
  return !DURATION_PATTERN.test(d) || (parseDuration(d) >= min && parseDuration(d) <= max);
}

/** Milliseconds of a duration written as DurationSchema accepts it. */
export function parseDuration(text: string): number {
  if (!DURATION_PATTERN.test(text)) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return total;
}

export const StorageSchema = z
  .object({
    size: StorageSizeSchema.describe('Size of each volume, for example 20Gi.'),
    class: DnsSubdomainSchema.optional().describe(
      'StorageClass of the volumes; the cluster default StorageClass when omitted.',
    ),
  })
  .describe('Persistent volumes of each replica.');

const ResourceListSchema = boundedRecord(z.string().min(1).max(253), QuantitySchema, 16)
  .describe('Quantities by resource name (cpu, memory, ephemeral-storage).');

export const ResourceRequirementsSchema = z
  .object({
    requests: ResourceListSchema.optional().describe(
      'Resources the scheduler reserves, by name (cpu, memory, ephemeral-storage): an integer or a quantity string such as 500m or 2Gi.',
    ),
    limits: ResourceListSchema.optional().describe(
      'Maximum resources, by name (cpu, memory, ephemeral-storage): an integer or a quantity string such as 500m or 2Gi.',
    ),
  })
  .describe('Compute resources of each container, as in a Pod spec.');

/** A reference to a key of a Secret or ConfigMap in the same namespace as the consumer. */
const KeyRefSchema = z.object({
  name: DnsSubdomainSchema.describe('Name of the object, in the cell namespace.'),
  key: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[-._a-zA-Z0-9]+$/)
    .describe('Key inside the object.'),
});

const EnvVarSourceSchema = withCel(
  z.object({
    secretKeyRef: KeyRefSchema.optional().describe('A key of a Secret in the cell namespace.'),
    configMapKeyRef: KeyRefSchema.optional().describe('A key of a ConfigMap in the cell namespace.'),
  }),
  [
    {
      rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)',
      message: 'valueFrom must set exactly one of secretKeyRef or configMapKeyRef',
      check: (s) => (s.secretKeyRef !== undefined) !== (s.configMapKeyRef !== undefined),
    },
  ],
);

export const EnvVarSchema = withCel(
  z.object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be a C-like identifier such as LOG_LEVEL')
      .describe('Name of the variable.'),
    value: z.string().max(32768).optional().describe('Literal value.'),
    valueFrom: EnvVarSourceSchema.optional().describe('Value taken from a Secret or ConfigMap key instead of a literal.'),
  }),
  [
    {
      rule: '!(has(self.value) && has(self.valueFrom))',
      message: 'an environment variable sets value or valueFrom, not both',
      check: (s) => !(s.value !== undefined && s.valueFrom !== undefined),
    },
  ],
).describe('An environment variable of the container.');

export const EnvSchema = listMap(z.array(EnvVarSchema).max(100), ['name']).describe(
  'Extra environment variables, merged by name. A variable named like one the operator injects (CELL_NAME, CELL_REGION, KAFKA_BOOTSTRAP_SERVERS, KAFKA_TELEMETRY_TOPIC, DATABASE_URL) replaces the injected one.',
);

export const LABEL_KEY_PATTERN =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const LABEL_VALUE_PATTERN = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const LabelKeySchema = z.string().min(1).max(317).regex(LABEL_KEY_PATTERN, 'must be a label key such as tier or example.com/tier');
const LabelValueSchema = z.string().max(63).regex(LABEL_VALUE_PATTERN, 'must be a label value');

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

const LabelSelectorRequirementSchema = withCel(
  z
    .object({
      key: LabelKeySchema.describe('Label key the requirement applies to.'),
      operator: z.enum(SELECTOR_OPERATORS).describe('In, NotIn, Exists or DoesNotExist.'),
      values: z
        .array(LabelValueSchema)
        .max(64)
        .optional()
        .describe('Values for In and NotIn (at least one); empty for Exists and DoesNotExist.'),
    })
    .describe('One requirement of a label selector.'),
  [
    {
      rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
      message: 'In and NotIn need at least one value; Exists and DoesNotExist take none',
      fieldPath: '.values',
      check: (s) =>
        s.operator === 'In' || s.operator === 'NotIn' ? (s.values?.length ?? 0) > 0 : (s.values?.length ?? 0) === 0,
    },
  ],
);

export const LabelSelectorSchema = withCel(
  z.object({
    matchLabels: boundedRecord(LabelKeySchema, LabelValueSchema, 64)
      .optional()
      .describe('Labels a customer must have, all of them, with these values.'),
    matchExpressions: z
      .array(LabelSelectorRequirementSchema)
      .max(32)
      .optional()
      .describe('Requirements a customer must meet, all of them.'),
  }),
  [
    {
      // An empty selector selects everyone; a drain says so with `all: true` instead.
      rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
      message: 'a selector needs at least one of matchLabels or matchExpressions; to select every customer use all: true',
      check: (s) => Object.keys(s.matchLabels ?? {}).length > 0 || (s.matchExpressions?.length ?? 0) > 0,
    },
  ],
);

export type Quantity = z.output<typeof QuantitySchema>;
export type Storage = z.output<typeof StorageSchema>;
export type ResourceRequirements = z.output<typeof ResourceRequirementsSchema>;
export type EnvVar = z.output<typeof EnvVarSchema>;
export type LabelSelector = z.output<typeof LabelSelectorSchema>;
