// Fails when config/crd/ or docs/api.md no longer match the zod schemas in src/crds/.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/repo-files.js';
import { generatedFiles } from '../src/crds/generate.js';

describe('generated CRDs and API reference', () => {
  const files = Object.entries(generatedFiles());

  it('cover the four kinds and the API reference', () => {
    expect(files.map(([path]) => path).sort()).toEqual([
      'config/crd/cells.platform.io_cellrebalancepolicies.yaml',
      'config/crd/cells.platform.io_cellreleases.yaml',
      'config/crd/cells.platform.io_cells.yaml',
      'config/crd/cells.platform.io_customerplacements.yaml',
      'config/crd/cells.platform.io_migrations.yaml',
      'docs/api.md',
    ]);
  });

  it.each(files.map(([path, content]) => [path, content] as const))('%s is up to date (else run npm run gen:crds)', (path, content) => {
    const target = join(REPO_ROOT, path);
    const committed = existsSync(target) ? readFileSync(target, 'utf8') : '<missing>';
    if (committed !== content) throw new Error(`${path} is stale: run npm run gen:crds and commit the result`);
  });

  it('say that they are generated and how to regenerate them', () => {
    for (const [path, content] of files) expect({ path, header: content.slice(0, 300).includes('npm run gen:crds') }).toEqual({ path, header: true });
  });

  it('render the same bytes every time', () => {
    expect(generatedFiles()).toEqual(Object.fromEntries(files));
  });
});
