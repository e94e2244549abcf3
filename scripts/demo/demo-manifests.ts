// The demo's Kubernetes objects. The Cells are those of examples/cells/, changed in one way: every
// cell's database is an external one on its own throw-away Citus coordinator, whose two workers the
// Cell lists for the operator to register (an in-cluster Citus cannot answer on kwok, where no
// container runs), or plain PostgreSQL when Citus is not built. Plus enterprise
// CustomerPlacements and the Migration.
import { exampleManifests, type CellManifest, type Manifest } from '../../test/e2e/support/examples.js';

/** Every object the demo creates carries this label; a new demo removes the old one's objects by it. */
export const DEMO_LABEL = 'cell-operator.demo/part-of';
export const DEMO_LABEL_VALUE = 'demo';
export const DEMO_SELECTOR = `${DEMO_LABEL}=${DEMO_LABEL_VALUE}`;

export const MIGRATION_NAME = 'eu-west-1a-to-1b';
export const MIGRATION_FROM = 'eu-west-1a';
export const MIGRATION_TO = 'eu-west-1b';
/** Index of the `pause: {}` step the migration waits at for a person. */
export const PROMOTION_STEP = 3;

interface SecretManifest extends Manifest {
  type?: string;
  stringData: { username: string; password: string };
}

/** A cell of the demo, as its database must be prepared. */
export interface DemoCell {
  name: string;
  region: string;
  database: string;
  secret: { name: string; namespace: string; username: string; password: string };
  /** What was changed in the example, for the output. */
  change: string;
}

export interface DemoPlan {
  cells: DemoCell[];
  /** The Secrets' namespace, the Secrets, then the Cells pointing at `databases` (with `workers`: a Citus coordinator). */
  manifests(databases: Map<string, DemoDatabaseEndpoint>): Manifest[];
}

/** Where a demo cell's database answers; `workers` when it is a Citus coordinator. */
export interface DemoDatabaseEndpoint {
  host: string;
  port: number;
  workers?: { host: string; port: number }[];
}

/** Shards of each distributed tenant table in the demo's Citus cells (few: small customers, three cells on one machine). */
export const DEMO_SHARD_COUNT = 8;

const databaseName = (cell: string) => `cell_${cell.replace(/[^a-z0-9]/g, '_')}`;

function isSecret(m: Manifest): m is SecretManifest {
  return m.kind === 'Secret' && typeof (m as Partial<SecretManifest>).stringData?.username === 'string';
}

function labelled<T extends Manifest>(manifest: T): T {
  const labels = (manifest.metadata.labels ?? {}) as Record<string, string>;
  return { ...manifest, metadata: { ...manifest.metadata, labels: { ...labels, [DEMO_LABEL]: DEMO_LABEL_VALUE } } };
}

/** Reads examples/cells/ and works out the demo's cells, their databases and their Secrets. */
export function demoPlan(): DemoPlan {
  const examples = exampleManifests();
  const exampleCells = examples.filter((m): m is CellManifest => m.kind === 'Cell');
  const secrets = examples.filter(isSecret);
  const template = secrets[0];
  if (exampleCells.length === 0 || !template) throw new Error('examples/cells/ holds no Cell or no credentials Secret: the demo is built from them');
  const secretNamespace = template.metadata.namespace ?? 'cell-databases';

  const cells: DemoCell[] = exampleCells.map((cell) => {
    const external = cell.spec.database.external;
    const existing = external ? secrets.find((s) => s.metadata.name === external.secretRef.name && s.metadata.namespace === external.secretRef.namespace) : undefined;
    const secret = existing
      ? { name: existing.metadata.name, namespace: existing.metadata.namespace ?? secretNamespace, ...existing.stringData }
      : { name: `${cell.metadata.name}-database`, namespace: secretNamespace, username: template.stringData.username, password: template.stringData.password };
    const database = external?.database ?? databaseName(cell.metadata.name);
    const change = external
      ? `external database moved from ${external.host}:${external.port ?? 5432} to its own database servers`
      : `in-cluster Citus (nothing answers on kwok) replaced by an external database on its own servers, credentials in Secret ${secret.namespace}/${secret.name}`;
    return { name: cell.metadata.name, region: cell.spec.region, database, secret, change };
  });

  return {
    cells,
    manifests(databases) {
      const namespaces = examples.filter((m) => m.kind === 'Namespace');
      const secretManifests = cells.map((c) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: c.secret.name, namespace: c.secret.namespace },
        type: 'Opaque',
        stringData: { username: c.secret.username, password: c.secret.password },
      }));
      const cellManifests = exampleCells.map((example) => {
        const demo = cells.find((c) => c.name === example.metadata.name)!;
        const db = databases.get(demo.name);
        if (!db) throw new Error(`no database for cell ${demo.name}`);
        const { tenantColumn, tables } = example.spec.database;
        return labelled({
          ...example,
          spec: {
            ...example.spec,
            database: {
              external: {
                host: db.host,
                port: db.port,
                database: demo.database,
                sslMode: 'disable',
                secretRef: { name: demo.secret.name, namespace: demo.secret.namespace },
                ...(db.workers?.length ? { workers: db.workers.map((w) => ({ host: w.host, port: w.port })) } : {}),
              },
              ...(db.workers?.length ? { shardCount: DEMO_SHARD_COUNT } : {}),
              ...(tenantColumn === undefined ? {} : { tenantColumn }),
              ...(tables === undefined ? {} : { tables }),
            },
          },
        });
      });
      return [...namespaces, ...secretManifests, ...cellManifests];
    },
  };
}

/** Enterprise customers managed in Git: one CustomerPlacement each, named after the cell it is pinned to. */
export const ENTERPRISE_CUSTOMERS = [
  { name: 'eu-west-1a-acme', region: 'eu-west-1', cell: 'eu-west-1a', expectedDevices: 1200, tier: 'enterprise' },
  { name: 'eu-west-1a-umbrella', region: 'eu-west-1', cell: 'eu-west-1a', expectedDevices: 300, tier: 'regulated' },
  { name: 'eu-west-1b-globex', region: 'eu-west-1', cell: 'eu-west-1b', expectedDevices: 800, tier: 'enterprise' },
  { name: 'us-east-1a-initech', region: 'us-east-1', cell: 'us-east-1a', expectedDevices: 500, tier: 'enterprise' },
] as const;

export function customerPlacementManifests(): Manifest[] {
  return ENTERPRISE_CUSTOMERS.map((c) =>
    labelled({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'CustomerPlacement',
      metadata: { name: c.name, labels: { tier: c.tier } },
      spec: { region: c.region, cell: c.cell, expectedDevices: c.expectedDevices },
    }),
  );
}

/** The canary migration of the eu-west-1 standard-tier customers from eu-west-1a to eu-west-1b. */
export function migrationManifest(): Manifest {
  return labelled({
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Migration',
    metadata: { name: MIGRATION_NAME },
    spec: {
      from: MIGRATION_FROM,
      to: MIGRATION_TO,
      customers: { selector: { matchLabels: { tier: 'standard' } } },
      order: 'SmallestFirst',
      steps: [{ move: 1 }, { pause: { duration: '10s' } }, { move: '10%' }, { pause: {} }, { move: '100%' }],
      maxConcurrent: 4,
      drainWait: '500ms',
      retention: '1m',
    },
  });
}
