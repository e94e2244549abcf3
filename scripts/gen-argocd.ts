// `npm run gen:argocd`: writes the argocd-cm patch and its copy in docs/argocd.md from the Lua
// health checks (scripts/argocd-docs.ts). The staleness test: scripts/argocd-docs.test.ts.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argocdFiles } from './argocd-docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [path, content] of Object.entries(argocdFiles(root))) {
  writeFileSync(join(root, path), content);
  console.log(`wrote ${path}`);
}
