// `npm run gen:strimzi`: writes the Strimzi types under src/crds/strimzi/ and the description-free
// Strimzi CRDs under test/e2e/fixtures/ (see scripts/strimzi/strimzi-generate.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSharedDir, generateStrimzi } from './strimzi/strimzi-generate.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const files = await generateStrimzi(defaultSharedDir(root));
for (const [path, content] of Object.entries(files)) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
  console.log(`wrote ${path} (${content.length} bytes)`);
}
