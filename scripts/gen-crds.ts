// `npm run gen:crds`: writes config/crd/*.yaml and docs/api.md from the zod schemas in src/crds/.
// The staleness test (scripts/gen-crds.test.ts) fails when the committed files differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/crds/generate.js';
import { chartCrdCopy, chartCrdPath } from './chart-crds.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = generatedFiles();
// The Helm chart ships the same CRDs (with an Argo CD sync wave).
for (const [path, content] of Object.entries(files)) if (path.startsWith('config/crd/')) files[chartCrdPath(path)] = chartCrdCopy(content);
for (const [path, content] of Object.entries(files)) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
}
