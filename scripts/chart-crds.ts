// The Helm chart's copies of config/crd/*.yaml (charts/cell-operator/crds/): the same CRDs with an
// Argo CD sync wave, so that a GitOps sync creates them before the operator and any Cell.
// `npm run gen:crds` writes them; scripts/chart-crds.test.ts fails when they are stale.
import { basename } from 'node:path';

export const CHART_CRD_DIR = 'charts/cell-operator/crds';
/** CRDs first, the operator next (-1), then Cells (0), CustomerPlacements (1), Migrations (2). */
export const CRD_SYNC_WAVE = '-2';

/** Path in the chart of the copy of a config/crd file. */
export const chartCrdPath = (configCrdPath: string): string => `${CHART_CRD_DIR}/${basename(configCrdPath)}`;

/** The chart's copy of a generated CRD: a sync-wave annotation added to its metadata, nothing else. */
export function chartCrdCopy(content: string): string {
  const lines = content.split('\n');
  const metadata = lines.indexOf('metadata:');
  const name = lines.findIndex((l, i) => i > metadata && l.startsWith('  name: '));
  if (metadata < 0 || name < 0 || lines.some((l) => l === '  annotations:')) {
    throw new Error('chartCrdCopy: expected a CRD with metadata.name and no annotations (the generator changed: adapt scripts/chart-crds.ts)');
  }
  lines.splice(name + 1, 0, '  annotations:', `    argocd.argoproj.io/sync-wave: "${CRD_SYNC_WAVE}"`);
  return lines.join('\n');
}
