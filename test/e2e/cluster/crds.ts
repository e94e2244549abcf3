// Installs CustomResourceDefinitions with server-side apply and waits until they are Established:
// ours from config/crd/, Strimzi's description-free copies and the Prometheus Operator's
// (PodMonitor, ServiceMonitor, PrometheusRule, unchanged) from test/e2e/fixtures/.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubectlOptions, KubectlResult } from './kubectl.js';

export type Kubectl = (args: string[], options?: KubectlOptions) => Promise<KubectlResult>;
export type Log = (message: string) => void;

export const STRIMZI_CRDS_FIXTURE = 'test/e2e/fixtures/strimzi-crds.yaml';
export const MONITORING_CRDS_DIR = 'test/e2e/fixtures/prometheus-operator';
export const FIELD_MANAGER = 'cell-operator-e2e';

function crdNames(files: string[]): string[] {
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8'))
      .map((doc) => doc.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((doc) => doc?.kind === 'CustomResourceDefinition' && doc.metadata?.name)
      .map((doc) => doc!.metadata!.name!),
  );
}

async function applyAndWait(kubectl: Kubectl, files: string[]): Promise<string[]> {
  const names = crdNames(files);
  await kubectl(['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, ...files.flatMap((f) => ['-f', f])]);
  await waitEstablished(kubectl, names);
  return names;
}

/**
 * Polls until every CRD is Established. (`kubectl wait --for=condition=Established` fails instead
 * of waiting when it reads a CRD whose status has no conditions yet, right after the apply.)
 */
async function waitEstablished(kubectl: Kubectl, names: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = names;
  while (pending.length > 0) {
    const result = await kubectl(
      ['get', 'crd', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}'],
      { allowFailure: true },
    );
    const established = new Set(
      result.stdout.split('\n').filter((line) => line.endsWith('=True')).map((line) => line.slice(0, -'=True'.length)),
    );
    pending = pending.filter((n) => !established.has(n));
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`CRDs not Established after ${timeoutMs / 1000}s: ${pending.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Our CRDs (config/crd/*.yaml). Returns the CRD names; none when the directory is still empty. */
export async function installOperatorCrds(kubectl: Kubectl, root: string, log: Log): Promise<string[]> {
  const dir = path.join(root, 'config/crd');
  const files = existsSync(dir)
    ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f))
    : [];
  if (files.length === 0) {
    log('config/crd/ has no CRD manifests yet: skipping the installation of the cell-operator CRDs');
    return [];
  }
  const names = await applyAndWait(kubectl, files);
  log(`installed the cell-operator CRDs: ${names.join(', ')}`);
  return names;
}

/**
 * Strimzi's CRDs. Unless `always`, left alone when Strimzi is already installed (kind, a real
 * cluster: its operator brings the CRDs of its own version). Returns whether they are there.
 */
export async function installStrimziCrds(kubectl: Kubectl, root: string, log: Log, options: { always: boolean }): Promise<boolean> {
  if (!options.always) {
    const present = await kubectl(['get', 'crd', 'kafkas.kafka.strimzi.io', '-o', 'name'], { allowFailure: true });
    if (present.code === 0) {
      log('Strimzi CRDs already installed: left as they are');
      return true;
    }
  }
  const fixture = path.join(root, STRIMZI_CRDS_FIXTURE);
  if (!existsSync(fixture)) {
    log(`${STRIMZI_CRDS_FIXTURE} is missing: skipping the Strimzi CRDs`);
    return false;
  }
  const names = await applyAndWait(kubectl, [fixture]);
  log(`installed the Strimzi CRDs: ${names.join(', ')}`);
  return true;
}

/**
 * The Prometheus Operator's CRDs (v0.93.0), so that the operator creates each cell's PodMonitors and
 * the API server validates them. Left alone where they are installed already (a real Prometheus
 * Operator brings its own version).
 */
export async function installMonitoringCrds(kubectl: Kubectl, root: string, log: Log): Promise<string[]> {
  const present = await kubectl(['get', 'crd', 'podmonitors.monitoring.coreos.com', '-o', 'name'], { allowFailure: true });
  if (present.code === 0) {
    log('Prometheus Operator CRDs already installed: left as they are');
    return [];
  }
  const dir = path.join(root, MONITORING_CRDS_DIR);
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f));
  const names = await applyAndWait(kubectl, files);
  log(`installed the Prometheus Operator CRDs: ${names.join(', ')}`);
  return names;
}
