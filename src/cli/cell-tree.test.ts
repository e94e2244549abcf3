import { assessChild, expectedChildren, renderCellTree, type ObservedChild } from './cell-tree.js';
import type { ObservedCell } from './observed.js';

const cell: ObservedCell = {
  metadata: { name: 'eu-1a' },
  // As the API server sends it: the whole spec (ObservedCell types only what the status views read).
  spec: { region: 'eu-west-1', capacity: { maxCustomers: 100 }, kafka: { topics: [{ name: 'telemetry', partitions: 3 }] } } as ObservedCell['spec'],
  status: { phase: 'Provisioning', conditions: [{ type: 'Ready', status: 'False', reason: 'KafkaNotReady', message: 'Kafka is not ready yet.', lastTransitionTime: '2026-01-01T00:00:00Z' }] } as ObservedCell['status'],
};

describe('the health of a cell child', () => {
  it('counts a Deployment or StatefulSet healthy only with every replica ready and updated, and the change seen', () => {
    expect(assessChild('Deployment', { spec: { replicas: 2 }, status: { replicas: 2, readyReplicas: 2, updatedReplicas: 2 } })).toEqual({ health: 'Healthy', detail: 'ready 2/2' });
    expect(assessChild('StatefulSet', { spec: { replicas: 3 }, status: { replicas: 3, readyReplicas: 1, updatedReplicas: 3 } })).toEqual({ health: 'Progressing', detail: 'ready 1/3' });
    expect(assessChild('Deployment', { metadata: { generation: 4 }, spec: { replicas: 1 }, status: { observedGeneration: 3, readyReplicas: 1, updatedReplicas: 1 } })).toEqual({
      health: 'Progressing',
      detail: 'ready 1/1, change not seen yet',
    });
    // Old pods still running beside the new ones: a rollout in progress.
    expect(assessChild('Deployment', { spec: { replicas: 1 }, status: { replicas: 2, readyReplicas: 2, updatedReplicas: 1 } }).health).toBe('Progressing');
  });

  it("reads Strimzi's Ready condition, and its refusal with the reason", () => {
    expect(assessChild('Kafka', { status: { conditions: [{ type: 'Ready', status: 'True' }] } })).toEqual({ health: 'Healthy', detail: 'Ready' });
    expect(assessChild('KafkaTopic', {})).toEqual({ health: 'Progressing', detail: 'waiting for Strimzi' });
    expect(assessChild('Kafka', { status: { conditions: [{ type: 'NotReady', status: 'True', reason: 'InvalidResourceException', message: 'no node pools\nmore' }] } })).toEqual({
      health: 'Degraded',
      detail: 'NotReady: InvalidResourceException (no node pools)',
    });
  });

  it('says a missing child is missing, and one being deleted is progressing', () => {
    expect(assessChild('Service', undefined).health).toBe('Missing');
    expect(assessChild('Service', { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } })).toEqual({ health: 'Progressing', detail: 'being deleted' });
    expect(assessChild('Secret', {})).toEqual({ health: 'Healthy', detail: 'present' });
  });
});

describe('the children of a cell', () => {
  it("are those the operator's builders make, in the order it applies them", () => {
    const expected = expectedChildren(cell);
    if (!('children' in expected)) throw new Error(expected.problem);
    const ids = expected.children.map((c) => `${c.kind}/${c.namespace ?? ''}/${c.name}`);
    expect(ids[0]).toBe('Namespace//cell-eu-1a');
    expect(ids).toContain('Kafka/cell-eu-1a/eu-1a');
    expect(ids).toContain('KafkaTopic/cell-eu-1a/telemetry');
    expect(ids.filter((i) => i.startsWith('KafkaNodePool/'))).toHaveLength(2);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names the field when the spec is not one the operator accepts', () => {
    expect(expectedChildren({ metadata: { name: 'x' }, spec: { region: 'eu-west-1', capacity: { maxCustomers: 0 } } })).toEqual({
      problem: expect.stringMatching(/^the Cell's spec is invalid \(spec\.capacity\.maxCustomers: /),
    });
  });

  it('draws the tree with each child\'s health and a summary', () => {
    const children: ObservedChild[] = [
      { kind: 'Namespace', name: 'cell-eu-1a', object: { status: { phase: 'Active' } } },
      { kind: 'Kafka', name: 'eu-1a', namespace: 'cell-eu-1a', object: {} },
      { kind: 'Deployment', name: 'ingest', namespace: 'cell-eu-1a' },
    ];
    expect(renderCellTree(cell, children)).toEqual([
      'Cell eu-1a  region eu-west-1  state Active  phase Provisioning  NotReady (KafkaNotReady)',
      '  Kafka is not ready yet.',
      'CHILD          NAME               HEALTH         DETAIL',
      '├─ Namespace   cell-eu-1a         ✔ Healthy      Active',
      '├─ Kafka       cell-eu-1a/eu-1a   ◌ Progressing  waiting for Strimzi',
      '└─ Deployment  cell-eu-1a/ingest  ✖ Missing      not created yet (or deleted): the operator creates it on its next reconcile',
      '3 children: 1 Healthy, 1 Progressing, 1 Missing',
    ]);
  });
});
