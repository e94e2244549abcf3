// `npm run cluster:up | cluster:down | cluster:status`: the local control plane by hand.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { installOperatorCrds } from './crds.js';
import { runKubectl } from './kubectl.js';
import { clusterStatus, ComponentStartError, ensureCluster, stopCluster } from './local-cluster.js';
import { DEFAULT_CLUSTER, projectRoot } from './paths.js';

/** `--name=<cluster>`: another local cluster than the management one (its state in `.local/<name>/`). */
const nameArg = process.argv.find((a) => a.startsWith('--name='))?.slice('--name='.length);

/** Every cluster recorded under `.local/` (the management one and, say, `cluster-b`). */
function recordedClusters(): string[] {
  const local = path.join(projectRoot(), '.local');
  if (!existsSync(local)) return [];
  return readdirSync(local).filter((d) => existsSync(path.join(local, d, 'state.json')));
}

async function up(): Promise<void> {
  const cluster = await ensureCluster({ ...(nameArg ? { name: nameArg } : {}) });
  const kubectl = cluster.kubectl;
  // For trying the operator by hand: its CRDs too (the e2e setup installs them again).
  const log = (message: string) => process.stderr.write(`[cluster] ${message}\n`);
  try {
    await installOperatorCrds((args, options) => runKubectl(kubectl, cluster.kubeconfigPath, args, options), projectRoot(), log);
  } catch (error) {
    log(`WARNING: the cell-operator CRDs could not be installed: ${error instanceof Error ? error.message : String(error)}`);
  }
  console.log(`
Local control plane ${cluster.reused ? 'already running' : 'started'}: ${cluster.server}, kwok nodes ${cluster.nodes.join(', ')}.

  export KUBECONFIG=${cluster.kubeconfigPath}
  alias kubectl=${kubectl}     # the kubectl of the build; the one on PATH may be older
  kubectl get nodes

Logs:      ${path.relative(process.cwd(), cluster.logDir)}/ (audit.log: every API call at Metadata level)
Status:    npm run cluster:status
Stop:      npm run cluster:down`);
}

async function status(): Promise<boolean> {
  const s = await clusterStatus({ ...(nameArg ? { name: nameArg } : {}) });
  if (!s.recorded) {
    console.log('No local cluster is recorded (npm run cluster:up).');
    return false;
  }
  console.log(`server ${s.server}\nkubeconfig ${s.kubeconfigPath}\n`);
  const rows = s.components.map((c) => [c.name, String(c.pid), c.running ? (c.healthy ? 'healthy' : 'running, NOT healthy') : 'NOT running', path.relative(process.cwd(), c.log)]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['component', 'pid', 'state'][i]!.length));
  const line = (r: string[]) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ');
  console.log(line(['component', 'pid', 'state', 'log']));
  for (const row of rows) console.log(line(row));
  return s.components.every((c) => c.healthy);
}

async function main(): Promise<number> {
  const command = process.argv[2];
  switch (command) {
    case 'up':
      await up();
      return 0;
    case 'down':
      // Without --name: every recorded cluster, so that a second cluster of a test is not left running.
      for (const name of nameArg ? [nameArg] : [...new Set([DEFAULT_CLUSTER, ...recordedClusters()])]) await stopCluster({ name });
      console.log('Local control plane stopped and its state removed.');
      return 0;
    case 'status':
      return (await status()) ? 0 : 1;
    default:
      console.error('usage: cli.ts up|down|status [--name=<cluster>]');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // A component that failed to start is named, with the end of its log, in the message.
    console.error(error instanceof ComponentStartError || error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
