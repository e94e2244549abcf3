// jest's e2e global teardown: stops the local control plane if the setup started it (a cluster
// that was already running, e.g. from `npm run cluster:up`, keeps running). E2E_KEEP_CLUSTER=1
// keeps it too. Loaded like global-setup.ts, through tsx.
import { register } from 'tsx/esm/api';

export default async function globalTeardown(): Promise<void> {
  if (process.env.E2E_STARTED_CLUSTER !== '1' || process.env.E2E_KEEP_CLUSTER) return;
  register();
  const { stopCluster } = await import('./cluster/local-cluster.js');
  await stopCluster({ log: (message) => process.stderr.write(`[e2e teardown] ${message}\n`) });
}
