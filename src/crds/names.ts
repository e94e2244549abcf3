// Formats of the identifiers the API shares with the rest of the system (cell names, regions,
// customer ids): the router, the store and the CRDs validate them with these same patterns.
// Every pattern here is RE2-compatible, because the API server evaluates them in Go.
import { z } from 'zod';
import { CUSTOMER_ID_MAX_LENGTH, CUSTOMER_ID_PATTERN } from '../store/customer-id.js';
import { withCel } from './cel.js';

/**
 * A cell name: a DNS-1035 label (starts with a letter) of at most 40 characters, because it
 * prefixes the names of Services (`<cell>-kafka-bootstrap`), pods and the namespace `cell-<name>`.
 */
export const CELL_NAME_PATTERN = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const CELL_NAME_MAX_LENGTH = 40;

/** A region: a DNS-1035 label, so that it can be a label value (`eu-west-1`). */
export const REGION_PATTERN = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const REGION_MAX_LENGTH = 63;

/**
 * A customer id: the one rule of src/store/customer-id.ts (a lowercase DNS-1123 subdomain of at
 * most 63 characters, dots allowed, `changes` reserved), so that the router, the store and the
 * CRDs accept the same ids: a valid CustomerPlacement name and label value, safe in a URL path.
 */
export { CUSTOMER_ID_MAX_LENGTH, CUSTOMER_ID_PATTERN, isValidCustomerId } from '../store/customer-id.js';

export function isValidCellName(name: string): boolean {
  return name.length <= CELL_NAME_MAX_LENGTH && CELL_NAME_PATTERN.test(name);
}

export const CellNameSchema = z
  .string()
  .min(1)
  .max(CELL_NAME_MAX_LENGTH)
  .regex(CELL_NAME_PATTERN, 'must be a lowercase DNS-1035 label (letters, digits and "-", starting with a letter)');

export const RegionSchema = z
  .string()
  .min(1)
  .max(REGION_MAX_LENGTH)
  .regex(REGION_PATTERN, 'must be a lowercase DNS-1035 label such as eu-west-1');

export const CustomerIdSchema = withCel(
  z
    .string()
    .min(1)
    .max(CUSTOMER_ID_MAX_LENGTH)
    .regex(CUSTOMER_ID_PATTERN, 'must be a lowercase DNS-1123 subdomain (letters, digits, "-" and ".")'),
  [{ rule: "self != 'changes'", message: 'changes is reserved (it names the router\'s change stream)', check: (id) => id !== 'changes' }],
);

/** A Kubernetes object name in a namespace-like role (DNS-1123 label). */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DnsLabelSchema = z.string().min(1).max(63).regex(DNS_LABEL_PATTERN, 'must be a lowercase DNS-1123 label');

/** A Kubernetes object name that may contain dots (Secrets, StorageClasses). */
export const DNS_SUBDOMAIN_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DnsSubdomainSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(DNS_SUBDOMAIN_PATTERN, 'must be a lowercase DNS-1123 subdomain');
