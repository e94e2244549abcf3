// The e2e global setup (called by test/e2e/global-setup.ts): the cluster (KUBECONFIG when set, e.g. kind; otherwise the local control plane
// of test/e2e/cluster, started or reused), our CRDs and Strimzi's. Tests get what they need through
// E2E_* environment variables (see support/kube.ts), since global setup runs in another context.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { installMonitoringCrds, installOperatorCrds, installStrimziCrds } from '../cluster/crds.js';
import { runKubectl } from '../cluster/kubectl.js';
import { ensureCluster } from '../cluster/local-cluster.js';
import { clusterPaths, projectRoot } from '../cluster/paths.js';
import { findOnPath } from '../cluster/tools.js';
import { installOperatorIdentity, OPERATOR_SERVICE_ACCOUNT_USER } from './operator-identity.js';

const log = (message: string) => process.stderr.write(`[e2e setup] ${message}\n`);

export async function setupE2e(): Promise<void> {
  // rbac-audit.test.ts reads only what this run logged (a reused cluster's log holds earlier runs).
  process.env.E2E_RUN_STARTED = new Date().toISOString();
  const root = projectRoot();
  const artifactsDir = path.join(root, '.local/e2e');
  mkdirSync(artifactsDir, { recursive: true });

  let kubeconfig: string;
  let kubectl: string;
  // KUBECONFIG naming the local cluster's own kubeconfig (as cluster:up suggests) is still local.
  const fromEnv = process.env.KUBECONFIG?.split(path.delimiter)[0];
  const external = fromEnv && path.resolve(fromEnv) !== clusterPaths(root).kubeconfig ? fromEnv : undefined;
  if (external) {
    kubeconfig = external;
    const found = process.env.E2E_KUBECTL || findOnPath('kubectl');
    if (!found) throw new Error('KUBECONFIG is set but kubectl is not on PATH (or set E2E_KUBECTL)');
    kubectl = found;
    await runKubectl(kubectl, kubeconfig, ['get', '--raw', '/readyz']);
    const server = await runKubectl(kubectl, kubeconfig, ['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}']);
    log(`using the cluster of KUBECONFIG=${kubeconfig} (${server.stdout.trim()}): the tests create and delete objects there`);
    process.env.E2E_CLUSTER = 'external';
  } else {
    const started = Date.now();
    const cluster = await ensureCluster({ log });
    log(`local control plane ${cluster.reused ? 'reused' : 'started'} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    kubeconfig = cluster.kubeconfigPath;
    kubectl = cluster.kubectl;
    process.env.E2E_CLUSTER = 'local';
    process.env.E2E_AUDIT_LOG = cluster.auditLogPath;
    process.env.E2E_BIN_DIR = cluster.binDir;
    if (!cluster.reused) process.env.E2E_STARTED_CLUSTER = '1';
  }
  process.env.E2E_KUBECONFIG = kubeconfig;
  process.env.E2E_KUBECTL = kubectl;
  process.env.E2E_ARTIFACTS_DIR = artifactsDir;

  const run = (args: string[], options?: Parameters<typeof runKubectl>[3]) => runKubectl(kubectl, kubeconfig, args, options);
  // On kind, Strimzi's own operator brought its CRDs; locally they are ours to (re)apply.
  const strimzi = await installStrimziCrds(run, root, log, { always: !external });
  process.env.E2E_STRIMZI = strimzi ? (external ? 'operator' : 'kwok') : 'none';
  // Cells get PodMonitors where the Prometheus Operator's API is served: always, in these tests.
  await installMonitoringCrds(run, root, log);
  const crds = await installOperatorCrds(run, root, log);
  process.env.E2E_CRDS = crds.join(',');
  process.env.E2E_OPERATOR_KUBECONFIG = await installOperatorIdentity(run, root, artifactsDir);
  process.env.E2E_OPERATOR_USER = OPERATOR_SERVICE_ACCOUNT_USER;
  log(`operators run as ${OPERATOR_SERVICE_ACCOUNT_USER} with the roles of config/rbac/`);
}
