// Formats of the identifiers the API shares with the rest of the system (cell names, regions,
// customer ids): the router, the store and the CRDs validate them with these same patterns.
// Every pattern here is RE2-compatible, because the API server evaluates them in Go.
import { z } from 'zod';

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
 * A customer id: a DNS-1123 label (lowercase letters, digits, `-`; at most 63), so that it is a
 * valid CustomerPlacement name and a valid label value, and needs no escaping in a URL path.
 */
export const CUSTOMER_ID_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const CUSTOMER_ID_MAX_LENGTH = 63;

export function isValidCustomerId(id: string): boolean {
  return id.length <= CUSTOMER_ID_MAX_LENGTH && CUSTOMER_ID_PATTERN.test(id);
}

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

export const CustomerIdSchema = z
  .string()
  .min(1)
  .max(CUSTOMER_ID_MAX_LENGTH)
  .regex(CUSTOMER_ID_PATTERN, 'must be a lowercase DNS-1123 label (letters, digits and "-")');

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
