import type { V1Deployment, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { resolveDatabaseSettings } from '../../store/connection.js';
import { buildWorkloads } from './workload-builder.js';
import { applyTlsDecision } from '../../data/cell-database-tls.js';
import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import {
  buildDatabase,
  buildDatabasePodDisruptionBudget,
  buildDatabaseSecret,
  buildDatabaseServices,
  buildDatabaseStatefulSets,
  DEFAULT_CITUS_IMAGE,
} from './database-builder.js';

const credentials = { username: 'postgres', password: 'p@ss:w/rd?#1' };

function decode(secret: V1Secret): Record<string, string> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

const externalSpec = {
  ...EXAMPLE_CELL_SPEC,
  database: {
    external: { host: 'legacy.db.example.com', port: 6432, database: 'telemetry', secretRef: { name: 'legacy-db', namespace: 'legacy' } },
  },
};

describe('the in-cluster Citus database', () => {
  const cell = exampleCell();
  const [coordinator, workers] = buildDatabaseStatefulSets(cell) as [V1StatefulSet, V1StatefulSet];

  it('runs one coordinator and spec.database.workers workers', () => {
    expect(coordinator.metadata).toMatchObject({ name: 'eu-west-1a-db', namespace: 'cell-eu-west-1a' });
    expect(coordinator.spec?.replicas).toBe(1);
    expect(workers.metadata?.name).toBe('eu-west-1a-db-worker');
    expect(workers.spec?.replicas).toBe(10);
    expect(workers.spec?.serviceName).toBe('eu-west-1a-db-worker');
  });

  it('defaults to two workers, 100Gi and the pinned image when the spec leaves them out', () => {
    const c = exampleCell({ ...EXAMPLE_CELL_SPEC, database: {} });
    const [coord, work] = buildDatabaseStatefulSets(c);
    expect(work?.spec?.replicas).toBe(2);
    expect(coord?.spec?.template.spec?.containers[0]?.image).toBe(DEFAULT_CITUS_IMAGE);
    expect(coord?.spec?.volumeClaimTemplates?.[0]?.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Gi' } } });
    expect(coord?.spec?.template.spec?.containers[0]?.args?.slice(0, 3)).toEqual(['postgres', '-c', 'citus.shard_count=32']);
  });

  it('takes image, storage class, shard count and resources from the spec', () => {
    const c = exampleCell({
      ...EXAMPLE_CELL_SPEC,
      database: { workers: 4, shardCount: 64, image: 'citusdata/citus:13.0.2-alpine', storage: { size: '50Gi', class: 'gp3' }, resources: { requests: { cpu: 2, memory: '8Gi' } } },
    });
    const container = buildDatabaseStatefulSets(c)[1]?.spec?.template.spec?.containers[0];
    expect(container?.image).toBe('citusdata/citus:13.0.2-alpine');
    expect(container?.args?.slice(0, 3)).toEqual(['postgres', '-c', 'citus.shard_count=64']);
    expect(container?.resources).toEqual({ requests: { cpu: '2', memory: '8Gi' } });
    expect(buildDatabaseStatefulSets(c)[1]?.spec?.volumeClaimTemplates?.[0]?.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'gp3',
      resources: { requests: { storage: '50Gi' } },
    });
  });

  it('keeps the volumes when the Cell goes under deletionPolicy Retain, deletes them under Delete, and keeps them on scale-down', () => {
    const policy = (deletionPolicy: 'Retain' | 'Delete') =>
      buildDatabaseStatefulSets(exampleCell({ ...EXAMPLE_CELL_SPEC, deletionPolicy })).map((s) => s.spec?.persistentVolumeClaimRetentionPolicy);
    expect(policy('Retain')).toEqual([
      { whenDeleted: 'Retain', whenScaled: 'Retain' },
      { whenDeleted: 'Retain', whenScaled: 'Retain' },
    ]);
    expect(policy('Delete')).toEqual([
      { whenDeleted: 'Delete', whenScaled: 'Retain' },
      { whenDeleted: 'Delete', whenScaled: 'Retain' },
    ]);
  });

  it('reads the password from the Secret and never carries it in the pod spec', () => {
    const container = coordinator.spec?.template.spec?.containers[0];
    expect(container?.env).toContainEqual({
      name: 'POSTGRES_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'eu-west-1a-db-credentials', key: 'password' } },
    });
    expect(container?.env?.every((e) => e.value === undefined || !e.value.includes(credentials.password))).toBe(true);
    expect(JSON.stringify(buildDatabaseStatefulSets(cell))).not.toContain(credentials.password);
  });

  it('runs Postgres as uid 999 with a read-only root filesystem and writable run, tmp and shm directories', () => {
    const pod = coordinator.spec?.template.spec;
    expect(pod?.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 999,
      runAsGroup: 999,
      fsGroup: 999,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const container = pod?.containers[0];
    expect(container?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container?.volumeMounts?.map((m) => m.mountPath)).toEqual(['/var/lib/postgresql/data', '/var/run/postgresql', '/tmp', '/dev/shm', '/etc/postgresql-tls']);
    expect(container?.env).toContainEqual({ name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' });
    expect(pod?.automountServiceAccountToken).toBe(false);
  });

  it('checks readiness and liveness with pg_isready over TCP, after a startup probe', () => {
    const container = coordinator.spec?.template.spec?.containers[0];
    const command = ['pg_isready', '-U', 'postgres', '-d', 'telemetry', '-h', '127.0.0.1', '-p', '5432'];
    expect(container?.readinessProbe?.exec?.command).toEqual(command);
    expect(container?.livenessProbe?.exec?.command).toEqual(command);
    expect(container?.startupProbe?.exec?.command).toEqual(command);
  });

  it('selects pods with labels that its template carries', () => {
    for (const sts of [coordinator, workers]) {
      const labels = sts.spec?.template.metadata?.labels ?? {};
      for (const [k, v] of Object.entries(sts.spec?.selector.matchLabels ?? {})) expect(labels[k]).toBe(v);
    }
  });

  it('gives the coordinator a ClusterIP Service and the workers a headless one with per-pod DNS', () => {
    const [coord, work] = buildDatabaseServices(cell);
    expect(coord?.metadata?.name).toBe('eu-west-1a-db');
    expect(coord?.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres', protocol: 'TCP' }] });
    expect(coord?.spec?.selector).toEqual(coordinator.spec?.selector.matchLabels);
    expect(work?.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(work?.spec?.selector).toEqual(workers.spec?.selector.matchLabels);
  });

  it('lets at most one worker be disrupted at a time', () => {
    const pdb = buildDatabasePodDisruptionBudget(cell);
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: workers.spec?.selector.matchLabels },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });
});

describe('the database Secret', () => {
  it('holds the credentials and a DATABASE_URL with the password percent-encoded', () => {
    const secret = buildDatabaseSecret(exampleCell(), credentials);
    expect(secret.metadata?.name).toBe('eu-west-1a-db-credentials');
    expect(secret).not.toHaveProperty('stringData');
    expect(decode(secret)).toEqual({
      username: 'postgres',
      password: credentials.password,
      host: 'eu-west-1a-db.cell-eu-west-1a.svc',
      port: '5432',
      database: 'telemetry',
      uri: 'postgresql://postgres:p%40ss%3Aw%2Frd%3F%231@eu-west-1a-db.cell-eu-west-1a.svc:5432/telemetry?sslmode=verify-full&sslrootcert=%2Fetc%2Fcell-database%2Fca.crt',
    });
    expect(new URL(decode(secret).uri ?? '').password).toBe(encodeURIComponent(credentials.password));
  });

  it('points at the external server, verifying it against the system\'s roots by default', () => {
    const secret = buildDatabaseSecret(exampleCell(externalSpec), { username: 'app', password: 'secret' });
    expect(decode(secret)).toMatchObject({
      host: 'legacy.db.example.com',
      port: '6432',
      uri: 'postgresql://app:secret@legacy.db.example.com:6432/telemetry?sslmode=verify-full&sslrootcert=system',
    });
    expect(decode(secret)).not.toHaveProperty('ca.crt');
    const require = exampleCell({ ...externalSpec, database: { external: { ...externalSpec.database.external, sslMode: 'require' } } });
    expect(decode(buildDatabaseSecret(require, { username: 'app', password: 'secret' })).uri).toMatch(/\?sslmode=require$/);
  });

  it('carries the CA of caRef and points DATABASE_URL at it, mounted into the workloads that use the database', () => {
    const cell = exampleCell({
      ...externalSpec,
      workloads: [
        { name: 'api', image: 'x:1' },
        { name: 'static', image: 'x:1', database: false },
      ],
      database: { external: { ...externalSpec.database.external, caRef: { kind: 'ConfigMap', name: 'db-ca', namespace: 'legacy' } } },
    });
    const secret = decode(buildDatabaseSecret(cell, { username: 'app', password: 'secret', ca: 'PEM' }));
    expect(secret['ca.crt']).toBe('PEM');
    expect(secret.uri).toBe('postgresql://app:secret@legacy.db.example.com:6432/telemetry?sslmode=verify-full&sslrootcert=%2Fetc%2Fcell-database%2Fca.crt');
    const [api, staticSite] = buildWorkloads(cell, { kafkaBootstrap: 'k:9092' }) as V1Deployment[];
    expect(api?.spec?.template.spec?.volumes).toContainEqual({ name: 'database-ca', secret: { secretName: 'eu-west-1a-db-credentials', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(api?.spec?.template.spec?.containers[0]?.volumeMounts).toContainEqual({ name: 'database-ca', mountPath: '/etc/cell-database', readOnly: true });
    expect(staticSite?.spec?.template.spec?.volumes?.map((v) => v.name)).toEqual(['tmp']);
    // What a workload does with DATABASE_URL: our own commands read it as libpq does.
    expect(resolveDatabaseSettings({ url: secret.uri })).toMatchObject({ sslmode: 'verify-full', sslRootCert: '/etc/cell-database/ca.crt', host: 'legacy.db.example.com' });
  });

  it('is left out when the credentials are not known: the builder never invents a password', () => {
    const kinds = buildDatabase(exampleCell(), undefined).map((o) => o.kind);
    expect(kinds).not.toContain('Secret');
    expect(kinds).toEqual(['Service', 'Service', 'StatefulSet', 'StatefulSet', 'PodDisruptionBudget']);
  });
});

describe('TLS of the in-cluster database', () => {
  const tls = applyTlsDecision(exampleCell(), undefined, { action: 'IssueAuthority', why: 'test' }, new Date());
  const withTls = { ...credentials, ca: tls.ca, serverTls: tls };

  it('keeps the CA and the servers\' certificate in a kubernetes.io/tls Secret applied with the credentials', () => {
    const objects = buildDatabase(exampleCell(), withTls);
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`).slice(0, 2)).toEqual(['Secret/eu-west-1a-db-credentials', 'Secret/eu-west-1a-db-tls']);
    const secret = objects[1] as V1Secret;
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(decode(secret)).toEqual({ 'tls.crt': tls.cert, 'tls.key': tls.key, 'ca.crt': tls.ca, 'ca.key': tls.caKey });
    expect(decode(objects[0] as V1Secret)['ca.crt']).toBe(tls.ca);
  });

  it('runs every server with TLS on, the certificate mounted without the CA key, Citus between nodes with verify-full', () => {
    for (const sts of buildDatabaseStatefulSets(exampleCell(), tls)) {
      const pod = sts.spec?.template;
      const container = pod?.spec?.containers[0];
      expect(container?.args).toEqual(expect.arrayContaining(['ssl=on', 'ssl_cert_file=/etc/postgresql-tls/tls.crt', 'ssl_key_file=/etc/postgresql-tls/tls.key']));
      expect(container?.args).toContain('citus.node_conninfo=sslmode=verify-full sslrootcert=/etc/postgresql-tls/ca.crt');
      expect(pod?.spec?.volumes?.find((v) => v.name === 'tls')?.secret).toEqual({
        secretName: 'eu-west-1a-db-tls',
        items: ['tls.crt', 'tls.key', 'ca.crt'].map((key) => ({ key, path: key })),
        defaultMode: 0o640,
      });
      expect(pod?.metadata?.annotations?.['cells.platform.io/tls-cert-hash']).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it('rolls the servers when their certificate changes, and only then', () => {
    const hash = (t: { cert: string }) => buildDatabaseStatefulSets(exampleCell(), t)[0]?.spec?.template.metadata?.annotations?.['cells.platform.io/tls-cert-hash'];
    expect(hash(tls)).toBe(hash({ cert: tls.cert }));
    const renewed = applyTlsDecision(exampleCell(), tls, { action: 'IssueServer', why: 'test' }, new Date());
    expect(renewed.ca).toBe(tls.ca);
    expect(hash(renewed)).not.toBe(hash(tls));
  });
});

describe('an external database', () => {
  it('runs nothing in the cell: only the Secret the workloads connect with', () => {
    expect(buildDatabase(exampleCell(externalSpec), { username: 'app', password: 'secret' }).map((o) => o.kind)).toEqual(['Secret']);
    expect(buildDatabase(exampleCell(externalSpec), undefined)).toEqual([]);
  });
});
