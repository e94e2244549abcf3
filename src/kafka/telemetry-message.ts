// The telemetry message of the project's data path: what a device sends to the gateway, what the
// gateway puts on the cell's topic (key = customer id) and what the ingestion worker writes. The
// row key (customer id, id) comes from the message itself, so a redelivery writes nothing new.
import { customerIdProblem } from '../store/customer-id.js';

export interface Reading {
  /** The device's own id for this reading (unique per customer): the idempotency key. */
  id: number;
  device: string;
  value: number;
}

export interface TelemetryMessage extends Reading {
  customer: string;
}

export const MAX_READINGS_PER_REQUEST = 1000;
const DEVICE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Why a reading is refused (the field named), or undefined. */
export function readingProblem(r: unknown, where = 'reading'): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return `${where} must be an object {id, device, value}`;
  const o = r as Record<string, unknown>;
  if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id) || o.id < 0) return `${where}.id must be a non-negative integer (the device's id of the reading)`;
  if (typeof o.device !== 'string' || !DEVICE.test(o.device)) return `${where}.device must be 1-128 characters of letters, digits, ".", "_", ":" and "-"`;
  if (typeof o.value !== 'number' || !Number.isFinite(o.value)) return `${where}.value must be a finite number`;
  return undefined;
}

/** A device request body: one reading or an array of them. */
export function parseReadings(body: unknown): { ok: true; readings: Reading[] } | { ok: false; problem: string } {
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0) return { ok: false, problem: 'the body holds no reading' };
  if (list.length > MAX_READINGS_PER_REQUEST) return { ok: false, problem: `at most ${MAX_READINGS_PER_REQUEST} readings per request, got ${list.length}` };
  const readings: Reading[] = [];
  for (const [i, r] of list.entries()) {
    const problem = readingProblem(r, Array.isArray(body) ? `[${i}]` : 'reading');
    if (problem) return { ok: false, problem };
    const o = r as Reading;
    readings.push({ id: o.id, device: o.device, value: o.value });
  }
  return { ok: true, readings };
}

/** The Kafka value of a message (the key is the customer id). */
export function encodeMessage(m: TelemetryMessage): Buffer {
  // JSON.stringify({v: 1, customer, id, device, value}) written field by field (the same bytes,
  // without building the object first: the gateway encodes every reading it takes).
  return Buffer.from(`{"v":1,"customer":${JSON.stringify(m.customer)},"id":${JSON.stringify(m.id)},"device":${JSON.stringify(m.device)},"value":${JSON.stringify(m.value)}}`);
}

/** A message read from the topic; a malformed one comes back with the reason (it goes to the dead-letter topic). */
export function decodeMessage(key: Buffer | null, value: Buffer | null): { ok: true; message: TelemetryMessage } | { ok: false; problem: string } {
  if (!value) return { ok: false, problem: 'the message has no value' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return { ok: false, problem: 'the value is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { v?: unknown }).v !== 1) return { ok: false, problem: 'the value is not a version 1 telemetry message' };
  const o = parsed as Record<string, unknown>;
  const customerProblem = customerIdProblem(o.customer);
  if (customerProblem) return { ok: false, problem: `customer ${customerProblem}` };
  if (key !== null && key.toString('utf8') !== o.customer) return { ok: false, problem: 'the key is not the message\'s customer id' };
  const problem = readingProblem(o, 'message');
  if (problem) return { ok: false, problem };
  return { ok: true, message: { customer: o.customer as string, id: o.id as number, device: o.device as string, value: o.value as number } };
}
