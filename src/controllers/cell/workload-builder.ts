// A Deployment (and a Service when a port is given) per workload, with the cell injected as
// environment, credentials only through Secret references, and a `restricted` security context.
import type { V1Container, V1Deployment, V1EnvVar, V1Probe, V1Service, V1Volume } from '@kubernetes/client-node';
import type { Cell, WorkloadSpec } from '../../crds/cell.js';
import { DATABASE_SECRET_KEYS } from '../../data/cell-database-credentials.js';
import { childMetadata, componentLabels, LABEL_DATABASE_CLIENT, LABEL_KAFKA_CLIENT, selectorLabels } from './labels.js';
import { cellName, DATABASE_CA_DIR, databaseHasCa, databaseSecretName, kafkaUserName, kafkaUserSecretName } from '../../crds/cell-names.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './pod-security.js';
import { containerResources } from './container-resources.js';

export interface WorkloadInputs {
  /** host:port of the plain (SASL_PLAINTEXT) listener: from the Kafka status, or the conventional one. */
  kafkaBootstrap: string;
}

/** The name of the container port (and of the Service's target port). */
export const WORKLOAD_PORT_NAME = 'app';

function secretEnv(name: string, secret: string, key: string): V1EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/** What the operator injects, before the workload's own variables (which replace same-named ones). */
export function injectedEnv(cell: Cell, workload: WorkloadSpec, inputs: WorkloadInputs): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: 'CELL_NAME', value: cellName(cell) },
    { name: 'CELL_REGION', value: cell.spec.region },
    { name: 'KAFKA_BOOTSTRAP_SERVERS', value: inputs.kafkaBootstrap },
    { name: 'KAFKA_TELEMETRY_TOPIC', value: cell.spec.kafka.telemetryTopic },
  ];
  if (workload.kafka) {
    // The User Operator writes these keys to the KafkaUser's Secret.
    const secret = kafkaUserSecretName(workload);
    env.push(
      { name: 'KAFKA_SECURITY_PROTOCOL', value: 'SASL_PLAINTEXT' },
      { name: 'KAFKA_SASL_MECHANISM', value: 'SCRAM-SHA-512' },
      { name: 'KAFKA_USERNAME', value: kafkaUserName(workload) },
      secretEnv('KAFKA_PASSWORD', secret, 'password'),
      secretEnv('KAFKA_SASL_JAAS_CONFIG', secret, 'sasl.jaas.config'),
    );
  }
  if (workload.database) env.push(secretEnv('DATABASE_URL', databaseSecretName(cell), DATABASE_SECRET_KEYS.uri));
  return env;
}

export function workloadEnv(cell: Cell, workload: WorkloadSpec, inputs: WorkloadInputs): V1EnvVar[] {
  const own = workload.env ?? [];
  const overridden = new Set(own.map((e) => e.name));
  return [...injectedEnv(cell, workload, inputs).filter((e) => !overridden.has(e.name)), ...own];
}

const DATABASE_CA_VOLUME = 'database-ca';

/** Whether the workload gets the database CA as a file (the sslrootcert of its DATABASE_URL). */
function databaseCa(cell: Cell, workload: WorkloadSpec): boolean {
  return workload.database && databaseHasCa(cell);
}

function databaseCaVolume(cell: Cell): V1Volume {
  return { name: DATABASE_CA_VOLUME, secret: { secretName: databaseSecretName(cell), items: [{ key: DATABASE_SECRET_KEYS.ca, path: 'ca.crt' }] } };
}

function tcpProbe(settings: Omit<V1Probe, 'tcpSocket'>): V1Probe {
  return { tcpSocket: { port: WORKLOAD_PORT_NAME }, ...settings };
}

function container(cell: Cell, workload: WorkloadSpec, inputs: WorkloadInputs): V1Container {
  const port = workload.port;
  return {
    name: workload.name,
    image: workload.image,
    ...(workload.command ? { command: workload.command } : {}),
    ...(workload.args ? { args: workload.args } : {}),
    ...(port !== undefined ? { ports: [{ name: WORKLOAD_PORT_NAME, containerPort: port, protocol: 'TCP' }] } : {}),
    env: workloadEnv(cell, workload, inputs),
    ...(workload.resources ? { resources: containerResources(workload.resources, {}) } : {}),
    securityContext: restrictedContainerSecurityContext({ readOnlyRootFilesystem: true }),
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...(databaseCa(cell, workload) ? [{ name: DATABASE_CA_VOLUME, mountPath: DATABASE_CA_DIR, readOnly: true }] : [])],
    // Only the port is known, not a health endpoint: a TCP check is what can be said for sure.
    ...(port !== undefined
      ? {
          readinessProbe: tcpProbe({ periodSeconds: 10, failureThreshold: 3 }),
          livenessProbe: tcpProbe({ initialDelaySeconds: 15, periodSeconds: 20, failureThreshold: 3 }),
        }
      : {}),
  };
}

export function buildWorkloadDeployment(cell: Cell, workload: WorkloadSpec, inputs: WorkloadInputs): V1Deployment {
  // Pod labels open the NetworkPolicy doors this workload needs, and no others.
  const doors = {
    ...(workload.kafka ? { [LABEL_KAFKA_CLIENT]: 'true' } : {}),
    ...(workload.database ? { [LABEL_DATABASE_CLIENT]: 'true' } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(cell, workload.name, 'workload', workload.name),
    spec: {
      replicas: workload.replicas,
      selector: { matchLabels: selectorLabels(cell, 'workload', workload.name) },
      template: {
        metadata: { labels: { ...componentLabels(cell, 'workload', workload.name), ...doors } },
        spec: {
          securityContext: restrictedPodSecurityContext(),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          containers: [container(cell, workload, inputs)],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...(databaseCa(cell, workload) ? [databaseCaVolume(cell)] : [])],
        },
      },
    },
  };
}

export function buildWorkloadService(cell: Cell, workload: WorkloadSpec, port: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(cell, workload.name, 'workload', workload.name),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cell, 'workload', workload.name),
      ports: [{ name: WORKLOAD_PORT_NAME, port, targetPort: WORKLOAD_PORT_NAME, protocol: 'TCP' }],
    },
  };
}

/** Per workload: its Deployment, then its Service when it has a port. */
export function buildWorkloads(cell: Cell, inputs: WorkloadInputs): (V1Deployment | V1Service)[] {
  return (cell.spec.workloads ?? []).flatMap((workload) => [
    buildWorkloadDeployment(cell, workload, inputs),
    ...(workload.port !== undefined ? [buildWorkloadService(cell, workload, workload.port)] : []),
  ]);
}
