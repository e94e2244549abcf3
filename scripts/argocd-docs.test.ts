import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { CM_PATCH_PATH, REGENERATE_ARGOCD_COMMAND, argocdFiles, healthChecks } from './argocd-docs.js';

const root = path.join(import.meta.dirname, '..');

describe('the Argo CD configuration', () => {
  it(`is up to date in the chart and in docs/argocd.md (run \`${REGENERATE_ARGOCD_COMMAND}\` when this fails)`, () => {
    for (const [file, content] of Object.entries(argocdFiles(root))) {
      if (readFileSync(path.join(root, file), 'utf8') !== content) throw new Error(`${file} is stale: run \`${REGENERATE_ARGOCD_COMMAND}\``);
    }
  });

  it('carries each health check under the key Argo CD looks up, byte for byte', () => {
    const cm = parse(readFileSync(path.join(root, CM_PATCH_PATH), 'utf8')) as { data: Record<string, string> };
    expect(Object.keys(cm.data)).toEqual([
      'resource.customizations.health.cells.platform.io_Cell',
      'resource.customizations.health.cells.platform.io_CellRebalancePolicy',
      'resource.customizations.health.cells.platform.io_CellRelease',
      'resource.customizations.health.cells.platform.io_CustomerPlacement',
      'resource.customizations.health.cells.platform.io_Migration',
    ]);
    for (const [key, lua] of Object.entries(healthChecks(root))) expect(cm.data[key]).toBe(lua.replace(/\n+$/, '\n'));
  });

  it('documents YAML that parses', () => {
    const docs = readFileSync(path.join(root, 'docs/argocd.md'), 'utf8');
    const blocks = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) for (const doc of parseAllDocuments(block)) expect(doc.errors).toEqual([]);
  });
});
