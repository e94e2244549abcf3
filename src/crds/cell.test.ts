/* eslint-disable @typescript-eslint/no-explicit-any -- the cases edit specs into deliberately invalid shapes */
import { parseCellSpec, type CellSpec, type CellSpecInput } from './cell.js';
import { formatFieldErrors } from './parse.js';
import { errorPaths, loadYaml } from '../../test/support/repo-files.js';

const minimal = (): CellSpecInput => ({
  region: 'eu-west-1',
  capacity: { maxCustomers: 1000 },
  kafka: { topics: [{ name: 'telemetry', partitions: 12 }] },
});

/** A minimal spec with `change` applied, parsed. */
function parseWith(change: (spec: Record<string, any>) => void) {
  const spec = minimal() as Record<string, any>;
  change(spec);
  return parseCellSpec(spec);
}

describe('parseCellSpec', () => {
  it('accepts the sample Cell', () => {
    const [sample] = loadYaml('config/samples/cells.platform.io_v1alpha1_cell.yaml');
    const result = parseCellSpec(sample?.spec);
    expect(result.ok ? 'ok' : formatFieldErrors(result.errors)).toBe('ok');
  });

  it('fills the defaults a user would expect in a minimal spec', () => {
    const result = parseCellSpec(minimal());
    if (!result.ok) throw new Error(formatFieldErrors(result.errors));
    const spec: CellSpec = result.value;
    expect(spec.state).toBe('Active');
    expect(spec.weight).toBe(100);
    expect(spec.deletionPolicy).toBe('Retain');
    expect(spec.kafka.controllers).toEqual({ replicas: 3, storage: { size: '20Gi' } });
    expect(spec.kafka.brokers).toEqual({ replicas: 3, storage: { size: '100Gi' } });
    expect(spec.kafka.telemetryTopic).toBe('telemetry');
    expect(spec.database).toEqual({ tenantColumn: 'customer_id' });
    expect(spec.workloads).toBeUndefined();
  });

  it('defaults an external database to port 5432, sslmode verify-full and the username/password keys', () => {
    const result = parseWith((s) => {
      s.database = { external: { host: 'db.internal', database: 'telemetry', secretRef: { name: 'db', namespace: 'default' } } };
    });
    expect(result.ok && result.value.database.external).toEqual({
      host: 'db.internal',
      port: 5432,
      database: 'telemetry',
      sslMode: 'verify-full',
      secretRef: { name: 'db', namespace: 'default', usernameKey: 'username', passwordKey: 'password' },
    });
  });

  it('takes a CA from a Secret (key ca.crt by default) or a ConfigMap, for the modes that check certificates only', () => {
    const external = (more: Record<string, unknown>) =>
      parseWith((s) => {
        s.database = { external: { host: 'db.internal', database: 'telemetry', secretRef: { name: 'db', namespace: 'default' }, ...more } };
      });
    const withSecret = external({ caRef: { name: 'db-ca', namespace: 'default' } });
    expect(withSecret.ok && withSecret.value.database.external?.caRef).toEqual({ kind: 'Secret', name: 'db-ca', namespace: 'default', key: 'ca.crt' });
    const withConfigMap = external({ sslMode: 'verify-ca', caRef: { kind: 'ConfigMap', name: 'db-ca', namespace: 'default', key: 'root.pem' } });
    expect(withConfigMap.ok && withConfigMap.value.database.external?.caRef?.kind).toBe('ConfigMap');
    const withPrefer = external({ sslMode: 'prefer', caRef: { name: 'db-ca', namespace: 'default' } });
    expect(errorPaths(withPrefer)).toEqual(['spec.database.external.caRef']);
    expect(external({ sslMode: 'sometimes' }).ok).toBe(false);
  });

  it('defaults a workload to one replica with the database injected', () => {
    const result = parseWith((s) => (s.workloads = [{ name: 'api', image: 'example/api:1' }]));
    expect(result.ok && result.value.workloads?.[0]).toEqual({ name: 'api', image: 'example/api:1', replicas: 1, database: true });
  });

  it('accepts quantities as integers or strings', () => {
    const result = parseWith((s) => {
      s.workloads = [{ name: 'api', image: 'x', resources: { requests: { cpu: 1, memory: '512Mi' }, limits: { cpu: '1500m' } } }];
    });
    expect(result.ok).toBe(true);
  });

  it.each([
    ['a region that is not a DNS label', (s: any) => (s.region = 'EU_West_1'), 'spec.region'],
    ['a weight above 1000', (s: any) => (s.weight = 5000), 'spec.weight'],
    ['a negative weight', (s: any) => (s.weight = -1), 'spec.weight'],
    ['an unknown state', (s: any) => (s.state = 'Paused'), 'spec.state'],
    ['a capacity of zero customers', (s: any) => (s.capacity.maxCustomers = 0), 'spec.capacity.maxCustomers'],
    ['no capacity', (s: any) => delete s.capacity, 'spec.capacity'],
    ['no kafka', (s: any) => delete s.kafka, 'spec.kafka'],
    ['zero brokers', (s: any) => (s.kafka.brokers = { replicas: 0 }), 'spec.kafka.brokers.replicas'],
    ['an even number of controllers', (s: any) => (s.kafka.controllers = { replicas: 2 }), 'spec.kafka.controllers.replicas'],
    ['a topic without partitions', (s: any) => (s.kafka.topics[0].partitions = 0), 'spec.kafka.topics[0].partitions'],
    ['no topics', (s: any) => (s.kafka.topics = []), 'spec.kafka.topics'],
    ['a missing telemetry topic', (s: any) => (s.kafka.telemetryTopic = 'events'), 'spec.kafka.telemetryTopic'],
    ['a topic with more replicas than brokers', (s: any) => {
      s.kafka.brokers = { replicas: 1 };
      s.kafka.topics[0].replicas = 3;
    }, 'spec.kafka.topics'],
    ['a duplicate topic', (s: any) => s.kafka.topics.push({ name: 'telemetry', partitions: 1 }), 'spec.kafka.topics[1]'],
    ['a storage size that is not a quantity', (s: any) => (s.kafka.brokers = { storage: { size: 'big' } }), 'spec.kafka.brokers.storage.size'],
    ['an unknown deletion policy', (s: any) => (s.deletionPolicy = 'Destroy'), 'spec.deletionPolicy'],
    ['a namespace that is not a DNS label', (s: any) => (s.namespace = 'Cell_A'), 'spec.namespace'],
    ['an external database with in-cluster workers', (s: any) => {
      s.database = { workers: 4, external: { host: 'db', database: 'd', secretRef: { name: 's', namespace: 'default' } } };
    }, 'spec.database.external'],
    ['a watermark column on a mutable table', (s: any) => {
      s.database = { tables: [{ name: 'devices', watermarkColumn: 'updated_at' }] };
    }, 'spec.database.tables[0].watermarkColumn'],
    ['a table name with SQL in it', (s: any) => (s.database = { tables: [{ name: 'x; drop table y' }] }), 'spec.database.tables[0].name'],
    ['duplicate workload names', (s: any) => {
      s.workloads = [{ name: 'ingest', image: 'a' }, { name: 'ingest', image: 'b' }];
    }, 'spec.workloads[1]'],
    ['a workload name that cannot name a Service', (s: any) => (s.workloads = [{ name: '1api', image: 'a' }]), 'spec.workloads[0].name'],
    ['an env var with both value and valueFrom', (s: any) => {
      s.workloads = [{ name: 'api', image: 'a', env: [{ name: 'A', value: '1', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }];
    }, 'spec.workloads[0].env[0]'],
    ['a valueFrom with two sources', (s: any) => {
      s.workloads = [{ name: 'api', image: 'a', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' }, configMapKeyRef: { name: 'c', key: 'k' } } }] }];
    }, 'spec.workloads[0].env[0].valueFrom'],
    ['a Kafka access without topics', (s: any) => (s.workloads = [{ name: 'api', image: 'a', kafka: {} }]), 'spec.workloads[0].kafka'],
    ['a fractional CPU written as a number', (s: any) => {
      s.workloads = [{ name: 'api', image: 'a', resources: { requests: { cpu: 0.5 } } }];
    }, 'spec.workloads[0].resources.requests.cpu'],
  ])('refuses %s, naming the field', (_what, change, path) => {
    const result = parseWith(change);
    expect(errorPaths(result)).toContain(path);
  });
});
