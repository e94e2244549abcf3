// The public face of src/crds: the three kinds (types, zod schemas, parse helpers), the shared
// condition, identifier formats and API names. Generation (to-crd, crd-manifests) is imported directly.
export * from './group.js';
export * from './names.js';
export * from './condition.js';
export * from './parse.js';
export * from './cell.js';
export * from './customer-placement.js';
export * from './migration.js';
export * from './cell-rebalance-policy.js';
export * from './cell-release.js';
export {
  DURATION_PATTERN,
  parseDuration,
  QUANTITY_PATTERN,
  type EnvVar,
  type LabelSelector,
  type Quantity,
  type ResourceRequirements,
  type Storage,
} from './kube-types.js';
