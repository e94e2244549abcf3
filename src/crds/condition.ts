// The status condition shared by the three kinds: the shape of metav1.Condition, so that kubectl,
// kstatus and Argo CD read it without custom code.
import { z } from 'zod';
import { listMap } from './cel.js';

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

// The same bounds and patterns as metav1.Condition.
export const ConditionSchema = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe('Type of the condition in PascalCase, for example Ready, KafkaReady, Placed or Paused.'),
    status: z.enum(CONDITION_STATUSES).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the object when the condition was set: older than the current generation means the condition is stale.'),
    lastTransitionTime: z.iso
      .datetime()
      .describe('When the condition last changed status (not when it was last checked).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Machine-readable reason in PascalCase, for example KafkaNotReady or CapacityExhausted.'),
    message: z
      .string()
      .max(32768)
      .describe('A sentence for a person: what is wrong and what to do about it; empty when there is nothing to say.'),
  })
  .describe('A status condition, shaped like metav1.Condition.');

export type Condition = z.output<typeof ConditionSchema>;

/** The conditions list of a status: one entry per type, merged by type under server-side apply. */
export const ConditionsSchema = listMap(
  z.array(ConditionSchema).max(32),
  ['type'],
).describe('Kubernetes-style conditions, one per type. Ready summarises the others.');
