// What e2e tests use to talk to the cluster that the global setup prepared: kubectl (the build's,
// with the e2e kubeconfig), a client-node KubeConfig, and `waitFor`.
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { runKubectl, type KubectlOptions, type KubectlResult } from '../cluster/kubectl.js';

export interface E2eEnvironment {
  kubeconfig: string;
  kubectl: string;
  /** `local`: the control plane of test/e2e/cluster (kwok plays Strimzi); `external`: KUBECONFIG. */
  cluster: 'local' | 'external';
  /** kube-apiserver's audit log, on the local cluster only. */
  auditLog?: string;
  /** Where tests write their logs (operator logs, ...): `.local/e2e/`. */
  artifactsDir: string;
  /** The operator's ServiceAccount token (config/rbac's roles), for every operator a test starts. */
  operatorKubeconfig: string;
  /** The user name of that token: `system:serviceaccount:cell-operator-system:cell-operator`. */
  operatorUser: string;
  /** When the global setup began (ISO 8601): audit events of this run come after it. */
  runStarted: string;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run e2e tests through jest's e2e project (its global setup sets it)`);
  return value;
}

export function e2eEnv(): E2eEnvironment {
  return {
    kubeconfig: required('E2E_KUBECONFIG'),
    kubectl: required('E2E_KUBECTL'),
    cluster: required('E2E_CLUSTER') === 'local' ? 'local' : 'external',
    auditLog: process.env.E2E_AUDIT_LOG || undefined,
    artifactsDir: required('E2E_ARTIFACTS_DIR'),
    operatorKubeconfig: required('E2E_OPERATOR_KUBECONFIG'),
    operatorUser: required('E2E_OPERATOR_USER'),
    runStarted: required('E2E_RUN_STARTED'),
  };
}

/** Runs kubectl against the e2e cluster; rejects on a non-zero exit unless `allowFailure`. */
export function kubectl(args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const env = e2eEnv();
  return runKubectl(env.kubectl, env.kubeconfig, args, options);
}

/** `kubectl ... -o json`, parsed. */
export async function kubectlJson<T = unknown>(args: string[]): Promise<T> {
  return JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T;
}

/** Applies manifests (YAML text or objects) with server-side apply, as a person would. */
export async function apply(manifests: string | object | object[], options: KubectlOptions & { fieldManager?: string } = {}): Promise<KubectlResult> {
  const input =
    typeof manifests === 'string'
      ? manifests
      : (Array.isArray(manifests) ? manifests : [manifests]).map((m) => stringify(m)).join('---\n');
  return kubectl(['apply', '--server-side', `--field-manager=${options.fieldManager ?? 'e2e-test'}`, '-f', '-'], { ...options, input });
}

/** A client-node KubeConfig for the e2e cluster. */
export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(e2eEnv().kubeconfig);
  return kc;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Said in the timeout error: "timed out waiting for <description>". */
  description?: string;
}

/** Thrown by a `waitFor` predicate to stop waiting at once (the awaited thing cannot happen). */
export class WaitAborted extends Error {
  override name = 'WaitAborted';
}

/**
 * Polls `predicate` until it returns a truthy value (returned), for at most `timeoutMs`. A throw
 * counts as "not yet", except `WaitAborted`; the timeout error carries the last error or value seen.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      if (error instanceof WaitAborted) throw error;
      last = error;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${options.description ?? 'a condition'} (last: ${seen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
