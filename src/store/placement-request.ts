// Validation of a placement request from outside (HTTP body, NDJSON line, CustomerPlacement spec):
// every problem named with its field, so a batch can report bad rows and place the good ones.
import { customerIdProblem } from './customer-id.js';
import type { PlacementRequest } from './placement-decision.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/; // cell and region names: DNS-subdomain-like
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
export const MAX_LABELS = 64;
export const MAX_EXPECTED_DEVICES = 1_000_000_000;

export type RequestValidation = { ok: true; request: PlacementRequest } | { ok: false; problems: string[] };

/** Kubernetes label syntax: the labels select customers for migrations like matchLabels does. */
export function labelProblem(key: string, value: unknown): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !LABEL_PREFIX.test(prefix))) return `labels: key ${JSON.stringify(key)} has an invalid prefix`;
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return `labels: key ${JSON.stringify(key)} is not a valid label name`;
  if (typeof value !== 'string') return `labels.${key}: must be a string`;
  if (value.length > 63 || !LABEL_VALUE.test(value)) return `labels.${key}: ${JSON.stringify(value)} is not a valid label value`;
  return undefined;
}

function nameProblem(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 253 || !NAME.test(value)) {
    return `${field}: must be a lowercase DNS name (letters, digits, "-", ".")`;
  }
  return undefined;
}

const FIELDS = new Set(['customer', 'customerId', 'region', 'cell', 'expectedDevices', 'labels']);

/**
 * Validates `{customer|customerId, region?, cell?, expectedDevices?, labels?}`; `customerId`
 * given separately (the URL path) wins over the body's. Unknown fields are refused.
 */
export function validatePlacementRequest(input: unknown, customerId?: string): RequestValidation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, problems: ['must be a JSON object'] };
  }
  const body = input as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(body)) if (!FIELDS.has(key)) problems.push(`${key}: unknown field`);
  const id = customerId ?? body.customer ?? body.customerId;
  const idProblem = customerIdProblem(id);
  if (idProblem) problems.push(`customer: ${idProblem}`);
  const regionProblem = nameProblem('region', body.region);
  if (regionProblem) problems.push(regionProblem);
  const cellProblem = nameProblem('cell', body.cell);
  if (cellProblem) problems.push(cellProblem);
  const devices = body.expectedDevices;
  if (devices !== undefined && devices !== null && (typeof devices !== 'number' || !Number.isInteger(devices) || devices < 0 || devices > MAX_EXPECTED_DEVICES)) {
    problems.push(`expectedDevices: must be an integer from 0 to ${MAX_EXPECTED_DEVICES}`);
  }
  const labels = body.labels;
  if (labels !== undefined && labels !== null) {
    if (typeof labels !== 'object' || Array.isArray(labels)) {
      problems.push('labels: must be an object of strings');
    } else {
      const entries = Object.entries(labels as Record<string, unknown>);
      if (entries.length > MAX_LABELS) problems.push(`labels: at most ${MAX_LABELS}`);
      for (const [k, v] of entries) {
        const p = labelProblem(k, v);
        if (p) problems.push(p);
      }
    }
  }
  if (problems.length) return { ok: false, problems };
  const request: PlacementRequest = { customerId: id as string };
  if (typeof body.region === 'string') request.region = body.region;
  if (typeof body.cell === 'string') request.cell = body.cell;
  if (typeof devices === 'number') request.expectedDevices = devices;
  if (labels) request.labels = labels as Record<string, string>;
  return { ok: true, request };
}
