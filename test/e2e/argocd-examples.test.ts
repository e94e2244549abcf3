// The region manifests of the Argo CD example (examples/argocd/regions/) are accepted by the API
// server as they are, CEL rules included: what an Argo CD sync would apply. Server-side dry run.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { kubectl } from './support/kube.js';

const REGIONS = path.join(process.cwd(), 'examples/argocd/regions');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const full = path.join(dir, e);
    return statSync(full).isDirectory() ? yamlFiles(full) : full.endsWith('.yaml') ? [full] : [];
  });
}

describe('the Argo CD example manifests', () => {
  it('are accepted by the API server (server-side dry run)', async () => {
    for (const file of yamlFiles(REGIONS)) {
      const result = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=e2e-argocd', '-f', '-'], { input: readFileSync(file, 'utf8'), allowFailure: true });
      expect({ file: path.relative(REGIONS, file), code: result.code, stderr: result.stderr }).toEqual({ file: path.relative(REGIONS, file), code: 0, stderr: '' });
      expect(result.stdout).toMatch(/serverside-applied \(server dry run\)/);
    }
  }, 60_000);
});
