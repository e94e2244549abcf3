// `npm run gen:crds`: writes config/crd/*.yaml and docs/api.md from the zod schemas in src/crds/.
// The staleness test (scripts/gen-crds.test.ts) fails when the committed files differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/crds/generate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [path, content] of Object.entries(generatedFiles())) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
}
