import { desiredChildren } from './cell-children.js';
import { applyWaves } from './cell-reconciler.js';
import { exampleCell } from './example-cell.js';

describe('applyWaves', () => {
  const children = desiredChildren(exampleCell(), { operatorNamespace: 'cell-operator-system', kafkaBootstrap: undefined, databaseCredentials: { username: 'u', password: 'p' } });
  const waves = applyWaves(children);
  const kinds = (i: number) => new Set(waves[i]?.map((o) => o.kind));

  it('creates the Namespace first and alone, then its NetworkPolicies and the Secret, then the node pools', () => {
    expect([...kinds(0)]).toEqual(['Namespace']);
    expect([...kinds(1)].sort()).toEqual(['NetworkPolicy', 'Secret']);
    expect([...kinds(2)]).toEqual(['KafkaNodePool']);
    expect(kinds(3).has('Kafka')).toBe(true);
    expect(kinds(3).has('Deployment')).toBe(true);
  });

  it('applies every desired child exactly once', () => {
    expect(waves.flat()).toHaveLength(children.length);
    expect(new Set(waves.flat())).toEqual(new Set(children));
  });
});
