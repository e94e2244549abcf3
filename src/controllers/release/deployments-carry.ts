// Whether the cell's Deployments, as the cache holds them, carry every field the builders want
// (the applier's own no-op check): only then does the Cell's readiness speak of those versions.
import { isApplied } from '../../runtime/apply.js';
import type { KubeObject } from '../../runtime/resource.js';

export function deploymentsCarry(desired: readonly KubeObject[], live: readonly KubeObject[] | undefined): boolean {
  return desired
    .filter((o) => o.kind === 'Deployment')
    .every((d) => isApplied(d, live?.find((l) => l.metadata?.name === d.metadata?.name && l.metadata?.namespace === d.metadata?.namespace)));
}
