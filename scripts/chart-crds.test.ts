import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART_CRD_DIR, CRD_SYNC_WAVE, chartCrdCopy } from './chart-crds.js';

const root = join(import.meta.dirname, '..');
const yamlIn = (dir: string) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.yaml')).sort();

describe("the Helm chart's CRDs", () => {
  it('are the CRDs of config/crd, one for one (run `npm run gen:crds` when this fails)', () => {
    expect(yamlIn(CHART_CRD_DIR)).toEqual(yamlIn('config/crd'));
    for (const file of yamlIn('config/crd')) {
      const expected = chartCrdCopy(readFileSync(join(root, 'config/crd', file), 'utf8'));
      if (readFileSync(join(root, CHART_CRD_DIR, file), 'utf8') !== expected) {
        throw new Error(`${CHART_CRD_DIR}/${file} differs from config/crd/${file}: run \`npm run gen:crds\``);
      }
    }
  });

  it('differ from them only by the Argo CD sync wave', () => {
    for (const file of yamlIn('config/crd')) {
      const original = parse(readFileSync(join(root, 'config/crd', file), 'utf8')) as { metadata: Record<string, unknown> };
      const copy = parse(readFileSync(join(root, CHART_CRD_DIR, file), 'utf8')) as { metadata: { annotations?: Record<string, string> } };
      expect(copy.metadata.annotations).toEqual({ 'argocd.argoproj.io/sync-wave': CRD_SYNC_WAVE });
      delete copy.metadata.annotations;
      expect(copy).toEqual(original);
    }
  });

  it('refuse a CRD whose metadata they cannot annotate', () => {
    expect(() => chartCrdCopy('kind: CustomResourceDefinition\nmetadata:\n  name: x\n  annotations:\n    a: b\n')).toThrow(/adapt scripts\/chart-crds.ts/);
  });
});
