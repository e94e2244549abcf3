import type { KubernetesObject, V1Deployment, V1PodSpec, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { CHILD_KINDS, desiredChildren, DuplicateChildError, type CellChildrenInputs } from './cell-children.js';
import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import { restrictedViolations } from './pod-security.js';
import type { CellSpecInput } from '../../crds/cell.js';
import type { KafkaNodePool, Kafka } from '../../crds/strimzi/index.js';
import { strimziSchemaErrors, STRIMZI_VERSIONS } from '../../../test/support/strimzi-schema.js';

const PASSWORD = 'Zq9-very-secret-generated-password';
const inputs: CellChildrenInputs = {
  operatorNamespace: 'cell-operator-system',
  kafkaBootstrap: undefined,
  databaseCredentials: { username: 'postgres', password: PASSWORD },
  podMonitors: true,
};

const externalSpec: CellSpecInput = {
  ...EXAMPLE_CELL_SPEC,
  database: {
    external: { host: 'legacy.db.example.com', database: 'telemetry', secretRef: { name: 'legacy-db', namespace: 'legacy' } },
  },
};

const specs: Record<string, CellSpecInput> = {
  'the DESIGN.md cell': EXAMPLE_CELL_SPEC,
  'a cell with deletionPolicy Delete': { ...EXAMPLE_CELL_SPEC, deletionPolicy: 'Delete' },
  'a cell with an external database': externalSpec,
  'a cell in a namespace of its own choosing': { ...EXAMPLE_CELL_SPEC, namespace: 'legacy-telemetry' },
};

const id = (o: KubernetesObject) => `${o.kind}/${o.metadata?.name}`;

function podSpecs(children: KubernetesObject[]): [string, V1PodSpec][] {
  return children.flatMap((o): [string, V1PodSpec][] => {
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
      const spec = (o as V1Deployment | V1StatefulSet).spec?.template.spec;
      return spec ? [[id(o), spec]] : [];
    }
    return [];
  });
}

describe('the children of a cell', () => {
  const cell = exampleCell();
  const children = desiredChildren(cell, inputs);

  it('come in apply order: namespace, policies, Secret, Kafka, database, workloads', () => {
    expect(children.map(id)).toEqual([
      'Namespace/cell-eu-west-1a',
      'NetworkPolicy/default-deny',
      'NetworkPolicy/allow-dns-egress',
      'NetworkPolicy/kafka-internal',
      'NetworkPolicy/kafka-entity-operator-to-api-server',
      'NetworkPolicy/kafka-from-clients',
      'NetworkPolicy/clients-to-kafka',
      'NetworkPolicy/database-internal',
      'NetworkPolicy/database-from-clients',
      'NetworkPolicy/database-from-operator',
      'NetworkPolicy/clients-to-database',
      'NetworkPolicy/workload-copilot-api-ingress',
      'Secret/eu-west-1a-db-credentials',
      'KafkaNodePool/controllers',
      'KafkaNodePool/brokers',
      'ConfigMap/eu-west-1a-metrics',
      'Kafka/eu-west-1a',
      'KafkaTopic/telemetry',
      'KafkaUser/copilot-api',
      'KafkaUser/ingest',
      'Service/eu-west-1a-db',
      'Service/eu-west-1a-db-worker',
      'StatefulSet/eu-west-1a-db',
      'StatefulSet/eu-west-1a-db-worker',
      'PodDisruptionBudget/eu-west-1a-db-worker',
      'Deployment/copilot-api',
      'Service/copilot-api',
      'Deployment/ingest',
      'PodMonitor/eu-west-1a-kafka',
      'PodMonitor/eu-west-1a-controllers',
      'PodMonitor/eu-west-1a-kafka-exporter',
      'PodMonitor/eu-west-1a-db',
      'PodMonitor/workload-copilot-api',
    ]);
  });

  it('leave PodMonitors out where the Prometheus Operator is not installed', () => {
    const without = desiredChildren(exampleCell(), { ...inputs, podMonitors: false });
    expect(without.filter((o) => o.kind === 'PodMonitor')).toEqual([]);
    expect(without).toHaveLength(children.length - 5);
  });

  it('are the same objects every time for the same Cell and inputs', () => {
    expect(desiredChildren(cell, inputs)).toEqual(children);
  });

  it('use the bootstrap address Strimzi reported once there is one', () => {
    const env = (objs: KubernetesObject[]) =>
      (objs.find((o) => id(o) === 'Deployment/ingest') as V1Deployment).spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'KAFKA_BOOTSTRAP_SERVERS')?.value;
    expect(env(children)).toBe('eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092');
    expect(env(desiredChildren(cell, { ...inputs, kafkaBootstrap: 'reported:9092' }))).toBe('reported:9092');
  });
});

describe.each(Object.entries(specs))('the children of %s', (_name, spec) => {
  const cell = exampleCell(spec);
  const children = desiredChildren(cell, inputs);
  const namespace = spec.namespace ?? 'cell-eu-west-1a';
  const namespaced = children.filter((o) => o.kind !== 'Namespace');

  it('start with the Namespace, and every other child is in it', () => {
    expect(children[0]).toMatchObject({ kind: 'Namespace', metadata: { name: namespace } });
    expect(namespaced.filter((o) => o.metadata?.namespace !== namespace).map(id)).toEqual([]);
  });

  it('are all labelled with the manager and the cell', () => {
    for (const o of children) {
      expect({ id: id(o), labels: o.metadata?.labels }).toMatchObject({
        id: id(o),
        labels: { 'app.kubernetes.io/managed-by': 'cell-operator', 'cells.platform.io/cell': 'eu-west-1a' },
      });
    }
  });

  it('are all owned by the Cell, the Namespace only when its deletion may take the data', () => {
    const owner = { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: 'eu-west-1a', uid: cell.metadata.uid, controller: true, blockOwnerDeletion: true };
    for (const o of namespaced) expect({ id: id(o), owners: o.metadata?.ownerReferences }).toEqual({ id: id(o), owners: [owner] });
    const nsOwned = spec.deletionPolicy === 'Delete' && spec.namespace === undefined;
    expect(children[0]?.metadata?.ownerReferences).toEqual(nsOwned ? [owner] : undefined);
  });

  it('have unique names per kind, and only kinds listed in CHILD_KINDS', () => {
    const ids = children.map(id);
    expect(new Set(ids).size).toBe(ids.length);
    const known = new Set(CHILD_KINDS.map((k) => `${k.apiVersion} ${k.kind}`));
    expect(children.filter((o) => !known.has(`${o.apiVersion} ${o.kind}`)).map(id)).toEqual([]);
  });

  it('run every pod under the Pod Security Standard restricted', () => {
    const pods = podSpecs(children);
    expect(pods.length).toBeGreaterThan(0);
    for (const [name, pod] of pods) expect({ name, violations: restrictedViolations(pod) }).toEqual({ name, violations: [] });
  });

  it("give Strimzi's containers a restricted security context of their own", () => {
    const strimziContainers = children.flatMap((o) => {
      if (o.kind === 'KafkaNodePool') return [['kafka', (o as KafkaNodePool).spec.template?.kafkaContainer?.securityContext]];
      if (o.kind === 'Kafka') {
        const t = (o as Kafka).spec.entityOperator?.template;
        return [['topic-operator', t?.topicOperatorContainer?.securityContext], ['user-operator', t?.userOperatorContainer?.securityContext]];
      }
      return [];
    }) as [string, V1PodSpec['containers'][number]['securityContext']][];
    expect(strimziContainers).toHaveLength(4);
    for (const [name, securityContext] of strimziContainers) {
      expect(restrictedViolations({ containers: [{ name, image: 'strimzi', securityContext }] })).toEqual([]);
    }
  });

  it('carry the database password only in the Secret, never inline', () => {
    const [secrets, others] = [children.filter((o) => o.kind === 'Secret'), children.filter((o) => o.kind !== 'Secret')];
    expect(secrets.map(id)).toEqual(['Secret/eu-west-1a-db-credentials']);
    const everythingElse = JSON.stringify(others);
    expect(everythingElse).not.toContain(PASSWORD);
    expect(everythingElse).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    for (const [name, pod] of podSpecs(children)) {
      for (const env of pod.containers.flatMap((c) => c.env ?? [])) {
        if (/PASSWORD|SECRET|TOKEN|DATABASE_URL|JAAS/.test(env.name)) {
          expect({ name, env: env.name, inline: env.value }).toEqual({ name, env: env.name, inline: undefined });
          expect(env.valueFrom?.secretKeyRef).toBeDefined();
        }
      }
    }
    expect((secrets[0] as V1Secret).data?.password).toBe(Buffer.from(PASSWORD).toString('base64'));
  });

  it('keep or delete the data volumes as deletionPolicy says, in Strimzi and in the StatefulSets', () => {
    const deleting = spec.deletionPolicy === 'Delete';
    const pools = children.filter((o) => o.kind === 'KafkaNodePool') as KafkaNodePool[];
    expect(pools.map((p) => p.spec.storage.deleteClaim)).toEqual([deleting, deleting]);
    for (const sts of children.filter((o) => o.kind === 'StatefulSet') as V1StatefulSet[]) {
      expect(sts.spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: deleting ? 'Delete' : 'Retain', whenScaled: 'Retain' });
    }
  });

  it.each(STRIMZI_VERSIONS)('have Strimzi objects that the %s v1 schemas accept', (version) => {
    for (const o of children.filter((c) => c.apiVersion === 'kafka.strimzi.io/v1')) {
      expect({ id: id(o), errors: strimziSchemaErrors(version, o) }).toEqual({ id: id(o), errors: [] });
    }
  });
});

describe('the children of a cell whose database credentials are not known yet', () => {
  it('leave the Secret out rather than invent a password', () => {
    const children = desiredChildren(exampleCell(), { ...inputs, databaseCredentials: undefined });
    expect(children.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(children.some((o) => o.kind === 'StatefulSet')).toBe(true);
  });
});

describe('the children of a cell with an external database', () => {
  it('run no database pods and keep only the Secret the workloads connect with', () => {
    const kinds = desiredChildren(exampleCell(externalSpec), inputs).map(id);
    expect(kinds.filter((k) => /StatefulSet|PodDisruptionBudget|Service\/eu-west-1a-db/.test(k))).toEqual([]);
    expect(kinds).toContain('Secret/eu-west-1a-db-credentials');
  });
});

describe('the children of a cell with the longest name allowed', () => {
  const name = `c${'x'.repeat(38)}z`; // 40 characters, the most cell.ts accepts
  const spec: CellSpecInput = {
    ...EXAMPLE_CELL_SPEC,
    workloads: [{ name: `w${'x'.repeat(48)}z`, image: 'x:1', port: 8080, kafka: { read: ['telemetry'] } }],
  };
  const children = desiredChildren(exampleCell(spec, { name }), inputs);
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

  it('have names Kubernetes accepts', () => {
    for (const o of children) {
      const n = o.metadata?.name ?? '';
      const max = ['Namespace', 'Service'].includes(o.kind ?? '') ? 63 : 253;
      expect({ id: id(o), ok: n.length <= max && DNS_LABEL.test(n.replace(/\./g, '-')) }).toEqual({ id: id(o), ok: true });
    }
  });

  it('have StatefulSet names short enough for the controller-revision-hash label of their pods', () => {
    for (const o of children.filter((c) => c.kind === 'StatefulSet')) expect((o.metadata?.name ?? '').length).toBeLessThanOrEqual(52);
  });

  it('have label values Kubernetes accepts, in the objects and in their pod templates', () => {
    const labelSets = children.flatMap((o) => [
      o.metadata?.labels ?? {},
      (o as V1Deployment).spec?.template?.metadata?.labels ?? {},
    ]);
    for (const labels of labelSets) {
      for (const [k, v] of Object.entries(labels)) expect({ k, v, ok: v.length <= 63 && LABEL_VALUE.test(v) }).toEqual({ k, v, ok: true });
    }
  });
});

describe('a workload that takes the name of one of the cell\'s own children', () => {
  const credentials = { username: 'postgres', password: 'x'.repeat(24) };
  const inputs = { operatorNamespace: 'cell-operator-system', kafkaBootstrap: undefined, databaseCredentials: credentials };
  const withWorkload = (name: string) =>
    exampleCell({ ...EXAMPLE_CELL_SPEC, workloads: [{ name, image: 'registry.example.com/x:1', port: 5432 }] });

  it('is refused by the builders rather than producing two Services of one name', () => {
    expect(() => desiredChildren(withWorkload('eu-west-1a-db'), inputs)).toThrow(DuplicateChildError);
    expect(() => desiredChildren(withWorkload('eu-west-1a-db'), inputs)).toThrow(/two children named Service cell-eu-west-1a\/eu-west-1a-db/);
    expect(() => desiredChildren(withWorkload('eu-west-1a-db-worker'), inputs)).toThrow(/StatefulSet|Service/);
  });

  it('is fine under any other name', () => {
    expect(() => desiredChildren(withWorkload('db'), inputs)).not.toThrow();
  });
});

describe('the kinds the reconciler never prunes', () => {
  // Whatever the spec says (database in the cluster or outside, more or fewer topics and workloads),
  // a Cell has the same objects of these kinds; otherwise one left behind would never be deleted.
  const variants: CellSpecInput[] = [
    EXAMPLE_CELL_SPEC,
    externalSpec,
    { ...EXAMPLE_CELL_SPEC, workloads: [] },
    { ...EXAMPLE_CELL_SPEC, database: { ...EXAMPLE_CELL_SPEC.database, workers: 0 } },
    { ...EXAMPLE_CELL_SPEC, kafka: { ...EXAMPLE_CELL_SPEC.kafka, topics: [...EXAMPLE_CELL_SPEC.kafka.topics, { name: 'audit', partitions: 1 }] } },
  ];
  const kept = new Set<string>(CHILD_KINDS.filter((k) => !k.pruned).map((k) => k.kind));

  it('are the same objects for every spec', () => {
    const [first, ...rest] = variants.map((spec) => desiredChildren(exampleCell(spec), inputs).filter((o) => kept.has(o.kind ?? '')).map(id).sort());
    expect(first!.length).toBeGreaterThanOrEqual(kept.size);
    for (const names of rest) expect(names).toEqual(first);
  });

  it('leave out kinds whose objects come and go with the spec', () => {
    const pruned = CHILD_KINDS.filter((k) => k.pruned).map((k) => k.kind);
    const counts = (spec: CellSpecInput) => pruned.map((kind) => desiredChildren(exampleCell(spec), inputs).filter((o) => o.kind === kind).length);
    const all = variants.map(counts);
    // Each pruned kind has a different number of objects in at least two of the specs.
    pruned.forEach((kind, i) => expect({ kind, varies: new Set(all.map((c) => c[i])).size > 1 }).toEqual({ kind, varies: true }));
  });
});
