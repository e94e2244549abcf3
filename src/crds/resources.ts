// The REST coordinates of the three kinds, in one place, each typed with its object: an informer
// made from one of these holds that kind (manager.informer(CELL_RESOURCE) is an Informer<Cell>).
import type { TypedResource } from '../runtime/resource.js';
import type { Cell } from './cell.js';
import type { CustomerPlacement } from './customer-placement.js';
import type { CellRebalancePolicy } from './cell-rebalance-policy.js';
import type { CellRelease } from './cell-release.js';
import { CELL, CELL_REBALANCE_POLICY, CELL_RELEASE, CUSTOMER_PLACEMENT, GROUP, MIGRATION, VERSION, type KindNames } from './group.js';
import type { Migration } from './migration.js';

const ours = <T>(names: KindNames): TypedResource<T> => ({ group: GROUP, version: VERSION, plural: names.plural, kind: names.kind, namespaced: false });

export const CELL_RESOURCE = ours<Cell>(CELL);
export const CUSTOMER_PLACEMENT_RESOURCE = ours<CustomerPlacement>(CUSTOMER_PLACEMENT);
export const MIGRATION_RESOURCE = ours<Migration>(MIGRATION);
export const CELL_REBALANCE_POLICY_RESOURCE = ours<CellRebalancePolicy>(CELL_REBALANCE_POLICY);
export const CELL_RELEASE_RESOURCE = ours<CellRelease>(CELL_RELEASE);
