// The one definition of a valid customer id, shared by the store, the router and the
// CustomerPlacement resource (whose metadata.name is the customer id).
//
// Grammar: 1-63 characters, an RFC 1123 DNS subdomain in lowercase: dot-separated labels of
// `a-z`, `0-9` and `-`, each label starting and ending with a letter or digit. So every customer
// id is also a valid Kubernetes object name and a safe URL path segment, and can carry no quote,
// backslash, semicolon, space, '%' or any other SQL or URL metacharacter. `changes` is reserved
// (it names the change stream, `GET /v1/routes/changes`).

export const CUSTOMER_ID_MAX_LENGTH = 63;
export const RESERVED_CUSTOMER_IDS: ReadonlySet<string> = new Set(['changes']);

/** The grammar as one RE2-compatible pattern: the CRDs (CustomerPlacement names, Migration names) use it too. */
export const CUSTOMER_ID_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CUSTOMER_ID = CUSTOMER_ID_PATTERN;

/** Why `value` is not a valid customer id, or undefined when it is. */
export function customerIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > CUSTOMER_ID_MAX_LENGTH) return `must be at most ${CUSTOMER_ID_MAX_LENGTH} characters (got ${value.length})`;
  if (!CUSTOMER_ID.test(value)) {
    return 'must be lowercase letters, digits, "-" and ".", start and end with a letter or digit, with no empty label (a DNS subdomain)';
  }
  if (RESERVED_CUSTOMER_IDS.has(value)) return `"${value}" is reserved`;
  return undefined;
}

export function isValidCustomerId(value: unknown): value is string {
  return customerIdProblem(value) === undefined;
}

/**
 * Decodes one percent-encoded URL path segment into a customer id. Fails (with the reason) on a
 * malformed escape or bytes that are not UTF-8, and on anything the grammar refuses.
 */
export function parseCustomerIdSegment(segment: string): { ok: true; id: string } | { ok: false; problem: string } {
  let decoded: string;
  try {
    decoded = segment.includes('%') ? decodeURIComponent(segment) : segment;
  } catch {
    return { ok: false, problem: 'is not valid percent-encoded UTF-8' };
  }
  const problem = customerIdProblem(decoded);
  return problem === undefined ? { ok: true, id: decoded } : { ok: false, problem };
}
