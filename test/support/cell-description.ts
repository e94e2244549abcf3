// A cell as the control-plane store describes it, for store and router tests: Active, Ready, weight
// 100, in us-east-1 when its name starts with "us" and eu-west-1 otherwise; `over` changes the rest.
import type { CellDescription } from '../../src/store/cells.js';

export function cellDescription(name: string, over: Partial<CellDescription> = {}): CellDescription {
  return {
    name,
    region: name.startsWith('us') ? 'us-east-1' : 'eu-west-1',
    state: 'Active',
    ready: true,
    weight: 100,
    maxCustomers: 1000,
    endpoints: { kafkaBootstrap: `kafka.${name}:9092` },
    ...over,
  };
}
