import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import { buildWorkloadDeployment, buildWorkloads, workloadEnv } from './workload-builder.js';
import type { WorkloadSpec } from '../../crds/cell.js';

const inputs = { kafkaBootstrap: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092' };

function workload(cell: ReturnType<typeof exampleCell>, name: string): WorkloadSpec {
  const w = cell.spec.workloads?.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w;
}

describe('the workloads of a cell', () => {
  const cell = exampleCell();

  it('builds a Deployment per workload and a Service only for those with a port', () => {
    expect(buildWorkloads(cell, inputs).map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      'Deployment/copilot-api',
      'Service/copilot-api',
      'Deployment/ingest',
    ]);
  });

  it('injects the cell, the Kafka bootstrap, the telemetry topic and credentials only through Secret references', () => {
    expect(workloadEnv(cell, workload(cell, 'copilot-api'), inputs)).toEqual([
      { name: 'CELL_NAME', value: 'eu-west-1a' },
      { name: 'CELL_REGION', value: 'eu-west-1' },
      { name: 'KAFKA_BOOTSTRAP_SERVERS', value: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092' },
      { name: 'KAFKA_TELEMETRY_TOPIC', value: 'telemetry' },
      { name: 'KAFKA_SECURITY_PROTOCOL', value: 'SASL_PLAINTEXT' },
      { name: 'KAFKA_SASL_MECHANISM', value: 'SCRAM-SHA-512' },
      { name: 'KAFKA_USERNAME', value: 'copilot-api' },
      { name: 'KAFKA_PASSWORD', valueFrom: { secretKeyRef: { name: 'kafka-user-copilot-api', key: 'password' } } },
      { name: 'KAFKA_SASL_JAAS_CONFIG', valueFrom: { secretKeyRef: { name: 'kafka-user-copilot-api', key: 'sasl.jaas.config' } } },
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'eu-west-1a-db-credentials', key: 'uri' } } },
    ]);
  });

  it('gives no Kafka credentials to a workload without kafka and no DATABASE_URL to one with database: false', () => {
    const c = exampleCell({ ...EXAMPLE_CELL_SPEC, workloads: [{ name: 'static', image: 'x:1', database: false }] });
    const names = workloadEnv(c, workload(c, 'static'), inputs).map((e) => e.name);
    expect(names).toEqual(['CELL_NAME', 'CELL_REGION', 'KAFKA_BOOTSTRAP_SERVERS', 'KAFKA_TELEMETRY_TOPIC']);
  });

  it("lets the workload's own variables replace injected ones of the same name, and keeps the rest after them", () => {
    const c = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      workloads: [
        {
          name: 'api',
          image: 'x:1',
          database: false,
          env: [
            { name: 'KAFKA_TELEMETRY_TOPIC', value: 'telemetry-v2' },
            { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'api-token', key: 'token' } } },
          ],
        },
      ],
    });
    expect(workloadEnv(c, workload(c, 'api'), inputs)).toEqual([
      { name: 'CELL_NAME', value: 'eu-west-1a' },
      { name: 'CELL_REGION', value: 'eu-west-1' },
      { name: 'KAFKA_BOOTSTRAP_SERVERS', value: inputs.kafkaBootstrap },
      { name: 'KAFKA_TELEMETRY_TOPIC', value: 'telemetry-v2' },
      { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'api-token', key: 'token' } } },
    ]);
  });

  it('labels the pods with the NetworkPolicy doors they need and selects them by stable labels', () => {
    const c = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      workloads: [...EXAMPLE_CELL_SPEC.workloads, { name: 'static', image: 'x:1', database: false }],
    });
    const labels = (name: string) => buildWorkloadDeployment(c, workload(c, name), inputs).spec?.template.metadata?.labels ?? {};
    expect(labels('copilot-api')).toMatchObject({ 'cells.platform.io/kafka-client': 'true', 'cells.platform.io/database-client': 'true' });
    expect(labels('static')).not.toHaveProperty('cells.platform.io/kafka-client');
    expect(labels('static')).not.toHaveProperty('cells.platform.io/database-client');
    const deployment = buildWorkloadDeployment(c, workload(c, 'copilot-api'), inputs);
    expect(deployment.spec?.selector.matchLabels).toEqual({
      'cells.platform.io/cell': 'eu-west-1a',
      'app.kubernetes.io/component': 'workload',
      'app.kubernetes.io/name': 'copilot-api',
    });
  });

  it('takes image, replicas, command, args and resources from the spec', () => {
    const c = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      workloads: [
        { name: 'job', image: 'registry.example.com/job@sha256:abc', replicas: 2, command: ['/bin/job'], args: ['--fast'], resources: { requests: { cpu: 1, memory: '256Mi' }, limits: { memory: '512Mi' } } },
      ],
    });
    const deployment = buildWorkloadDeployment(c, workload(c, 'job'), inputs);
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.spec?.template.spec?.containers[0]).toMatchObject({
      name: 'job',
      image: 'registry.example.com/job@sha256:abc',
      command: ['/bin/job'],
      args: ['--fast'],
      resources: { requests: { cpu: '1', memory: '256Mi' }, limits: { memory: '512Mi' } },
    });
  });

  it('probes the port over TCP when there is one, and not at all otherwise', () => {
    const api = buildWorkloadDeployment(cell, workload(cell, 'copilot-api'), inputs).spec?.template.spec?.containers[0];
    expect(api?.ports).toEqual([{ name: 'app', containerPort: 8080, protocol: 'TCP' }]);
    expect(api?.readinessProbe?.tcpSocket).toEqual({ port: 'app' });
    expect(api?.livenessProbe?.tcpSocket).toEqual({ port: 'app' });
    const ingest = buildWorkloadDeployment(cell, workload(cell, 'ingest'), inputs).spec?.template.spec?.containers[0];
    expect(ingest).not.toHaveProperty('ports');
    expect(ingest).not.toHaveProperty('readinessProbe');
    expect(ingest).not.toHaveProperty('livenessProbe');
  });

  it('exposes the port through a ClusterIP Service selecting the Deployment pods', () => {
    const service = buildWorkloads(cell, inputs).find((o) => o.kind === 'Service');
    expect(service?.spec).toEqual({
      type: 'ClusterIP',
      selector: { 'cells.platform.io/cell': 'eu-west-1a', 'app.kubernetes.io/component': 'workload', 'app.kubernetes.io/name': 'copilot-api' },
      ports: [{ name: 'app', port: 8080, targetPort: 'app', protocol: 'TCP' }],
    });
  });

  it('builds nothing for a cell without workloads', () => {
    const { workloads: _w, ...spec } = EXAMPLE_CELL_SPEC;
    expect(buildWorkloads(exampleCell(spec), inputs)).toEqual([]);
  });
});
