// CEL validation rules (`x-kubernetes-validations`) attached to zod schemas: one declaration feeds
// both the CRD (the API server enforces the rule) and zod parsing (the same check in TypeScript, so
// controllers get the same answer in unit tests and as defence in depth).
import type { z } from 'zod';

/** The reasons the API server accepts on a validation rule. */
export type CelReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

/** A rule as it appears in the CRD. */
export interface CelRule {
  rule: string;
  message: string;
  /** Where the error is reported, relative to the node carrying the rule (`.to`, `.steps`). */
  fieldPath?: string;
  reason?: CelReason;
  /**
   * The rule also runs on create, with `oldSelf` an optional (`oldSelf.hasValue()`): a rule that
   * holds for new objects and lets an update keep what an older schema allowed (Kubernetes 1.30+).
   */
  optionalOldSelf?: true;
}

/**
 * A rule plus its TypeScript twin. `check` receives the parsed (defaulted) value, as CEL does after
 * the API server has applied defaults. Transition rules (those using `oldSelf`) compare with the
 * stored object, which a parse cannot see: they carry no `check`, unless `optionalOldSelf` makes
 * them rules of new objects too (the check is then what a create must satisfy).
 */
export interface CelCheck<T> extends CelRule {
  check?: (self: T) => boolean;
}

export const CEL_KEY = 'x-kubernetes-validations';

/** Splits a CEL fieldPath (`.a.b`, `.a['b']`) into zod path segments. */
export function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (!fieldPath) return [];
  const segments: string[] = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']+)'\]/g;
  let consumed = 0;
  for (let m = re.exec(fieldPath); m; m = re.exec(fieldPath)) {
    if (m.index !== consumed) break;
    segments.push((m[1] ?? m[2]) as string);
    consumed = re.lastIndex;
  }
  if (consumed !== fieldPath.length) throw new Error(`unsupported CEL fieldPath ${JSON.stringify(fieldPath)}`);
  return segments;
}

/**
 * Attaches CEL rules to a schema (appending to rules already there) and registers each rule's
 * `check` as a zod refinement reporting at the rule's fieldPath.
 */
export function withCel<S extends z.ZodType>(schema: S, rules: readonly CelCheck<z.output<S>>[]): S {
  let out = schema;
  for (const r of rules) {
    const usesOldSelf = /\boldSelf\b/.test(r.rule);
    if (usesOldSelf && r.check && !r.optionalOldSelf) throw new Error(`transition rule cannot have a parse-time check: ${r.rule}`);
    if ((!usesOldSelf || r.optionalOldSelf) && !r.check) throw new Error(`rule needs a parse-time check: ${r.rule}`);
    if (/[\r\n]/.test(r.message)) throw new Error(`rule message must be one line: ${r.message}`);
    const path = fieldPathSegments(r.fieldPath);
    const check = r.check;
    if (check) {
      out = out.superRefine((value, ctx) => {
        // A fresh array each time: zod prefixes the parent path onto issue.path in place.
        if (!check(value as z.output<S>)) ctx.addIssue({ code: 'custom', message: r.message, path: [...path] });
      }) as S;
    }
  }
  const existing = (out.meta()?.[CEL_KEY] as CelRule[] | undefined) ?? [];
  const plain = rules.map(({ rule, message, fieldPath, reason, optionalOldSelf }) => ({
    rule,
    message,
    ...(fieldPath ? { fieldPath } : {}),
    ...(reason ? { reason } : {}),
    ...(optionalOldSelf ? { optionalOldSelf } : {}),
  }));
  return out.meta({ [CEL_KEY]: [...existing, ...plain] }) as S;
}

/**
 * Kubernetes list semantics for server-side apply: `map` lists merge per key, `set` per value. The
 * API server refuses duplicate keys in both; the zod twin reports them at the duplicate's index.
 */
export function listMap<S extends z.ZodArray>(schema: S, keys: readonly string[]): S {
  const unique = schema.superRefine((items, ctx) => {
    reportDuplicates(items, ctx, (item) => JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k])), `duplicate ${keys.join(', ')}`);
  }) as S;
  return unique.meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [...keys] }) as S;
}

export function listSet<S extends z.ZodArray>(schema: S): S {
  const unique = schema.superRefine((items, ctx) => {
    reportDuplicates(items, ctx, (item) => JSON.stringify(item), 'duplicate value');
  }) as S;
  return unique.meta({ 'x-kubernetes-list-type': 'set' }) as S;
}

function reportDuplicates(items: readonly unknown[], ctx: z.RefinementCtx, keyOf: (item: unknown) => string, message: string): void {
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const key = keyOf(item);
    if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `${message}: ${key}`, path: [index] });
    seen.add(key);
  });
}
