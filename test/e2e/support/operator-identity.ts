// The operator's own identity in the e2e cluster: the ServiceAccount and roles of config/rbac/
// (generated from src/rbac/rules.ts), applied as a user would, and a kubeconfig holding a token of
// that ServiceAccount (TokenRequest API, as a pod's projected token). Every operator the e2e tests
// start uses it, so a missing grant fails the test that needed it, and rbac-audit.test.ts compares
// the requests it made (from the audit log) with the rules.
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { KubectlOptions, KubectlResult } from '../cluster/kubectl.js';
import { PLAIN } from '../../../src/rbac/render.js';

type Run = (args: string[], options?: KubectlOptions) => Promise<KubectlResult>;

/** The user name the API server gives the operator's ServiceAccount token. */
export const OPERATOR_SERVICE_ACCOUNT_USER = `system:serviceaccount:${PLAIN.namespace}:${PLAIN.serviceAccount}`;

interface KubeconfigFile {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  contexts: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  'current-context': string;
}

/**
 * Applies config/rbac/ (its namespace first) and writes `<dir>/operator.kubeconfig` with a fresh
 * ServiceAccount token valid for `hours`. Returns the kubeconfig's path.
 */
export async function installOperatorIdentity(run: Run, root: string, dir: string, hours = 12): Promise<string> {
  await run(['apply', '--server-side', '--field-manager=e2e-setup', '-f', '-'], {
    input: stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: PLAIN.namespace } }),
  });
  await run(['apply', '--server-side', '--field-manager=e2e-setup', '-k', path.join(root, 'config/rbac')]);
  const token = (await run(['create', 'token', PLAIN.serviceAccount, '-n', PLAIN.namespace, `--duration=${hours}h`])).stdout.trim();
  if (!token) throw new Error(`kubectl create token ${PLAIN.serviceAccount} printed no token`);

  const admin = JSON.parse((await run(['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json'])).stdout) as KubeconfigFile;
  const cluster = admin.clusters[0];
  if (!cluster) throw new Error('the e2e kubeconfig has no cluster');
  const user = OPERATOR_SERVICE_ACCOUNT_USER;
  const file = path.join(dir, 'operator.kubeconfig');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [cluster],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: 'operator', context: { cluster: cluster.name, user } }],
      'current-context': 'operator',
    }),
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  return file;
}
