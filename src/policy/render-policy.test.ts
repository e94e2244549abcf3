import { readRepoFile } from '../../test/support/repo-files.js';
import { REGENERATE_RBAC_COMMAND } from '../rbac/render.js';
import { policyFiles } from './render-policy.js';

describe('the generated admission policy files', () => {
  it(`are up to date (run \`${REGENERATE_RBAC_COMMAND}\` when this fails)`, () => {
    for (const [path, content] of Object.entries(policyFiles())) {
      let committed: string;
      try {
        committed = readRepoFile(path);
      } catch {
        throw new Error(`${path} is missing: run \`${REGENERATE_RBAC_COMMAND}\``);
      }
      if (committed !== content) throw new Error(`${path} is stale: run \`${REGENERATE_RBAC_COMMAND}\``);
    }
  });
});

describe('the admission policy', () => {
  it('reads the namespace fields by index: an admission policy does not unescape __namespace__ as a CRD rule does', () => {
    expect(Object.values(policyFiles()).join('\n')).not.toContain('__namespace__');
  });
});
