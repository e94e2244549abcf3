// The command line of each control-plane component, as pure data: what runs, with which flags,
// where it logs and how its health is read. The starter (local-cluster.ts) only executes these.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClusterPaths } from './paths.js';
import type { Pki } from './pki.js';

export const COMPONENT_NAMES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'strimzi'] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
  /** The Strimzi stand-in's health endpoint. */
  strimzi: number;
}

/** How a component's health is read: plain HTTP, or HTTPS with or without the admin client cert. */
export interface HealthCheck {
  url: string;
  tls: 'none' | 'insecure' | 'admin';
}

export interface ComponentSpec {
  name: ComponentName;
  command: string;
  args: string[];
  log: string;
  health: HealthCheck;
}

export interface ComponentInputs {
  binDir: string;
  paths: ClusterPaths;
  pki: Pki;
  ports: Ports;
  /** Kubeconfigs of the components that talk to the API server. */
  kubeconfigs: { controllerManager: string; scheduler: string; kwok: string };
  auditPolicy: string;
  kwokConfig: string;
}

export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
export const POD_CIDR = '10.244.0.0/16';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** kwok manages only the nodes carrying this annotation (the ones cluster:up creates). */
export const KWOK_NODE_ANNOTATION = { key: 'kwok.x-k8s.io/node', value: 'fake' } as const;
/** Seconds a kwok node's Lease is valid; kwok renews it well before (as kubelet, at a quarter). */
export const KWOK_NODE_LEASE_DURATION_SECONDS = 40;

export function componentSpecs(inputs: ComponentInputs): ComponentSpec[] {
  const { binDir, paths, pki, ports, kubeconfigs } = inputs;
  const bin = (name: string) => path.join(binDir, name);
  const log = (name: string) => path.join(paths.logs, `${name}.log`);
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    {
      name: 'etcd',
      command: bin('etcd'),
      args: [
        '--name=local',
        `--data-dir=${paths.etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=local=${peerUrl}`,
        '--initial-cluster-state=new',
        // Throw-away data: no fsync makes a test cluster several times faster on a slow disk.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      log: log('etcd'),
      health: { url: `${etcdUrl}/health`, tls: 'none' },
    },
    {
      name: 'kube-apiserver',
      command: bin('kube-apiserver'),
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${ports.apiServer}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        // The request-header (front proxy) settings kubeadm sets: aggregated APIs and the
        // delegated authentication of controller-manager and scheduler need them.
        `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
        `--proxy-client-key-file=${pki.frontProxyClientKey}`,
        '--authorization-mode=Node,RBAC',
        // As on hardened clusters (OpenShift): an owner reference with blockOwnerDeletion needs
        // update on the owner's finalizers, which src/rbac/rules.ts grants for Cells.
        '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        // The `kubernetes` Service would point at 127.0.0.1, which Endpoints refuse: nothing in
        // this cluster reaches the API server through it (kwok pods run no code).
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        `--audit-policy-file=${inputs.auditPolicy}`,
        `--audit-log-path=${path.join(paths.logs, 'audit.log')}`,
        '--audit-log-maxsize=200',
        '--audit-log-maxbackup=2',
        '--v=1',
      ],
      log: log('kube-apiserver'),
      health: { url: `https://127.0.0.1:${ports.apiServer}/readyz`, tls: 'admin' },
    },
    {
      name: 'kube-controller-manager',
      command: bin('kube-controller-manager'),
      args: [
        `--kubeconfig=${kubeconfigs.controllerManager}`,
        `--authentication-kubeconfig=${kubeconfigs.controllerManager}`,
        `--authorization-kubeconfig=${kubeconfigs.controllerManager}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.controllerManager}`,
        '--controllers=*',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        '--leader-elect=false',
        '--v=1',
      ],
      log: log('kube-controller-manager'),
      health: { url: `https://127.0.0.1:${ports.controllerManager}/healthz`, tls: 'insecure' },
    },
    {
      name: 'kube-scheduler',
      command: bin('kube-scheduler'),
      args: [
        `--kubeconfig=${kubeconfigs.scheduler}`,
        `--authentication-kubeconfig=${kubeconfigs.scheduler}`,
        `--authorization-kubeconfig=${kubeconfigs.scheduler}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.scheduler}`,
        '--leader-elect=false',
        '--v=1',
      ],
      log: log('kube-scheduler'),
      health: { url: `https://127.0.0.1:${ports.scheduler}/healthz`, tls: 'insecure' },
    },
    {
      name: 'kwok',
      command: bin('kwok'),
      args: [
        `--kubeconfig=${kubeconfigs.kwok}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION.key}=${KWOK_NODE_ANNOTATION.value}`,
        `--cidr=${POD_CIDR}`,
        '--node-ip=10.255.0.1',
        `--server-address=127.0.0.1:${ports.kwok}`,
        // Renew each node's Lease as a kubelet does. Without it the node-heartbeat-with-lease Stage
        // (a status update every 10-20 min) is the only heartbeat, so the node lifecycle controller
        // sees the nodes go silent after its 50 s grace period, marks them Unknown and every pod on
        // them Ready=False; kwok's node-initialize Stage brings the node back, but nothing
        // re-readies the pods (pod-ready only matches Pending pods) and Deployments never become
        // Available. kwokctl passes the same value.
        `--node-lease-duration-seconds=${KWOK_NODE_LEASE_DURATION_SECONDS}`,
        `--config=${inputs.kwokConfig}`,
      ],
      log: log('kwok'),
      health: { url: `http://127.0.0.1:${ports.kwok}/healthz`, tls: 'none' },
    },
    {
      // The Strimzi operators' stand-in (strimzi-stand-in.ts), as a cluster admin like kwok.
      name: 'strimzi',
      command: process.execPath,
      args: [
        '--import',
        pathToFileURL(path.join(paths.root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
        path.join(paths.root, 'test', 'e2e', 'cluster', 'strimzi-stand-in.ts'),
        '--kubeconfig',
        kubeconfigs.kwok,
        '--port',
        String(ports.strimzi),
      ],
      log: log('strimzi'),
      health: { url: `http://127.0.0.1:${ports.strimzi}/healthz`, tls: 'none' },
    },
  ];
}

/**
 * The audit policy: every request at Metadata level (who did what to which resource: what the
 * RBAC test compares with our roles), except the control plane's own traffic and health probes.
 */
export const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'None', users: ['system:apiserver', 'system:kube-controller-manager', 'system:kube-scheduler', 'kwok-controller'] },
    // kube-controller-manager's controllers, each with its own service account.
    { level: 'None', userGroups: ['system:serviceaccounts:kube-system'] },
    { level: 'None', nonResourceURLs: ['/healthz*', '/readyz*', '/livez*', '/version', '/openapi/*'] },
    { level: 'Metadata' },
  ],
};
