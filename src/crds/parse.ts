// Parsing with errors that name the field, the way the API server does (`spec.steps[2].move`), so
// that a controller can put the path in a condition message a person can act on.
import type { z } from 'zod';

export interface FieldError {
  /** Field path in API server notation: `spec.kafka.topics[0].partitions`. */
  path: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Formats a zod issue path as the API server does: dots for fields, brackets for indexes. */
export function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${String(segment)}]`;
  }
  return out;
}

/** Parses `input` with `schema`; on failure every error carries its field path under `prefix`. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix: string): ParseResult<z.output<S>> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => ({ path: formatPath(prefix, issue.path), message: issue.message })),
  };
}

/** One line for a condition message: `spec.region: ...; spec.weight: ...`. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join('; ');
}
