// `npm run gen:rbac`: writes config/rbac/*.yaml and the Helm chart's role rules from
// src/rbac/rules.ts. The staleness test (src/rbac/rules.test.ts) fails when they differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rbacFiles } from '../src/rbac/render.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [path, content] of Object.entries(rbacFiles())) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
}
