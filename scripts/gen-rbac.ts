// `npm run gen:rbac`: writes config/rbac/*.yaml and the Helm chart's role rules from
// src/rbac/rules.ts, and the Cell admission policy (config/policy/, the chart's _cell-policy.tpl)
// from src/policy/admission-policy.ts. Staleness tests (rules.test.ts, render-policy.test.ts) fail when they differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { policyFiles } from '../src/policy/render-policy.js';
import { rbacFiles } from '../src/rbac/render.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const [path, content] of Object.entries({ ...rbacFiles(), ...policyFiles() })) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
}
