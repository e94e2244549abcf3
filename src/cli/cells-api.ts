// The plugin's few calls to the API server — list Cells and Migrations, read one Migration, merge-
// patch its spec — with failures turned into sentences: not found, CRDs missing, forbidden, down.
import { KubeConfig } from '@kubernetes/client-node';
import { CELL, CELL_REBALANCE_POLICY, CELL_RELEASE, GROUP, MIGRATION, VERSION } from '../crds/group.js';
import type { CellRelease } from '../crds/cell-release.js';
import { ContentType, createKubeClient, KubeApiError, statusCode, type KubeClient } from '../runtime/kube-client.js';
import { loadKubeConfig } from '../runtime/kube-config.js';
import { resourcePath, type ResourceType } from '../runtime/resource.js';
import type { CellPatch } from './cell-patches.js';
import type { MigrationPatch } from './migration-patches.js';
import type { ObservedCell, ObservedMigration } from './observed.js';
import type { ChildObject } from './cell-tree.js';
import { childResource } from '../controllers/cell/child-resources.js';
import type { ObservedPolicy } from './rebalance-view.js';
import { PACKAGE_VERSION } from '../version.js';

const CELLS: ResourceType = { group: GROUP, version: VERSION, plural: CELL.plural, kind: CELL.kind, namespaced: false };
const RELEASES: ResourceType = { group: GROUP, version: VERSION, plural: CELL_RELEASE.plural, kind: CELL_RELEASE.kind, namespaced: false };
const MIGRATIONS: ResourceType = { group: GROUP, version: VERSION, plural: MIGRATION.plural, kind: MIGRATION.kind, namespaced: false };
const POLICIES: ResourceType = { group: GROUP, version: VERSION, plural: CELL_REBALANCE_POLICY.plural, kind: CELL_REBALANCE_POLICY.kind, namespaced: false };

/** A failure said for a person; the plugin prints the message and exits 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** The kubeconfig of --kubeconfig, else $KUBECONFIG or ~/.kube/config; --context picks a context. */
export function kubeConfigFor(options: { kubeconfig?: string; context?: string }, env: NodeJS.ProcessEnv): KubeConfig {
  let kc: KubeConfig;
  try {
    if (options.kubeconfig) {
      kc = new KubeConfig();
      kc.loadFromFile(options.kubeconfig);
    } else {
      kc = loadKubeConfig(env);
    }
  } catch (err) {
    throw new CliError(`cannot load the kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(err as Error).message}`);
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw new CliError(`the kubeconfig has no context ${JSON.stringify(options.context)} (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw new CliError('the kubeconfig has no current context with a cluster');
  return kc;
}

export class CellsApi {
  constructor(
    private readonly client: KubeClient,
    /** The API server's URL, for messages. */
    private readonly server = 'the API server',
  ) {}

  static fromKubeConfig(kc: KubeConfig, timeoutMs = 15_000): CellsApi {
    return new CellsApi(createKubeClient(kc, { timeoutMs, userAgent: `kubectl-cells/${PACKAGE_VERSION}` }), kc.getCurrentCluster()?.server);
  }

  async listCells(): Promise<ObservedCell[]> {
    return this.call('list Cells', CELL.plural, async () => (await this.client.request<{ items?: ObservedCell[] }>({ method: 'GET', path: resourcePath(CELLS) })).items ?? []);
  }

  async listMigrations(): Promise<ObservedMigration[]> {
    return this.call('list Migrations', MIGRATION.plural, async () =>
      (await this.client.request<{ items?: ObservedMigration[] }>({ method: 'GET', path: resourcePath(MIGRATIONS) })).items ?? [],
    );
  }

  async getCell(name: string): Promise<ObservedCell> {
    return this.call(`read cell ${name}`, CELL.plural, () => this.client.request<ObservedCell>({ method: 'GET', path: resourcePath(CELLS, { name }) }), name, 'cell');
  }

  /** A Cell, or undefined when there is none of that name. */
  async findCell(name: string): Promise<ObservedCell | undefined> {
    try {
      return await this.getCell(name);
    } catch (err) {
      if (err instanceof CliError && / not found /.test(err.message)) return undefined;
      throw err;
    }
  }

  /** A child of a cell (any kind the operator writes), or undefined when it does not exist. */
  async findChild(kind: string, name: string, namespace?: string): Promise<ChildObject | undefined> {
    const resource = childResource(kind);
    try {
      return await this.client.request<ChildObject>({ method: 'GET', path: resourcePath(resource, { name, ...(namespace ? { namespace } : {}) }) });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw this.explain(err, `read ${kind} ${namespace ? `${namespace}/` : ''}${name}`, resource.plural, name, kind);
    }
  }

  async patchCell(name: string, patch: CellPatch): Promise<ObservedCell> {
    return this.call(
      `patch cell ${name}`,
      CELL.plural,
      () => this.client.request<ObservedCell>({ method: 'PATCH', path: resourcePath(CELLS, { name }), body: patch, contentType: ContentType.mergePatch }),
      name,
      'cell',
    );
  }

  async createMigration(migration: { metadata: { name: string } }): Promise<ObservedMigration> {
    return this.call(`create migration ${migration.metadata.name}`, MIGRATION.plural, () =>
      this.client.request<ObservedMigration>({ method: 'POST', path: resourcePath(MIGRATIONS), body: migration }),
    );
  }

  async getMigration(name: string): Promise<ObservedMigration> {
    return this.call(`read migration ${name}`, MIGRATION.plural, () => this.client.request<ObservedMigration>({ method: 'GET', path: resourcePath(MIGRATIONS, { name }) }), name);
  }

  async patchMigration(name: string, patch: MigrationPatch): Promise<ObservedMigration> {
    return this.call(
      `patch migration ${name}`,
      MIGRATION.plural,
      () => this.client.request<ObservedMigration>({ method: 'PATCH', path: resourcePath(MIGRATIONS, { name }), body: patch, contentType: ContentType.mergePatch }),
      name,
    );
  }

  async listPolicies(): Promise<ObservedPolicy[]> {
    return this.call('list CellRebalancePolicies', CELL_REBALANCE_POLICY.plural, async () =>
      (await this.client.request<{ items?: ObservedPolicy[] }>({ method: 'GET', path: resourcePath(POLICIES) })).items ?? [],
    );
  }

  async getPolicy(name: string): Promise<ObservedPolicy> {
    return this.call(`read cellrebalancepolicy ${name}`, CELL_REBALANCE_POLICY.plural, () => this.client.request<ObservedPolicy>({ method: 'GET', path: resourcePath(POLICIES, { name }) }), name, 'cellrebalancepolicy');
  }

  async patchPolicy(name: string, patch: { spec: { approve: string } }): Promise<ObservedPolicy> {
    return this.call(
      `patch cellrebalancepolicy ${name}`,
      CELL_REBALANCE_POLICY.plural,
      () => this.client.request<ObservedPolicy>({ method: 'PATCH', path: resourcePath(POLICIES, { name }), body: patch, contentType: ContentType.mergePatch }),
      name,
      'cellrebalancepolicy',
    );
  }

  async getRelease(name: string): Promise<CellRelease> {
    return this.call(`read release ${name}`, CELL_RELEASE.plural, () => this.client.request<CellRelease>({ method: 'GET', path: resourcePath(RELEASES, { name }) }), name, 'release');
  }

  async patchRelease(name: string, patch: { spec: Record<string, unknown> }): Promise<CellRelease> {
    return this.call(
      `patch release ${name}`,
      CELL_RELEASE.plural,
      () => this.client.request<CellRelease>({ method: 'PATCH', path: resourcePath(RELEASES, { name }), body: patch, contentType: ContentType.mergePatch }),
      name,
      'release',
    );
  }

  private async call<T>(what: string, plural: string, fn: () => Promise<T>, name?: string, kind = 'migration'): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.explain(err, what, plural, name, kind);
    }
  }

  private explain(err: unknown, what: string, plural: string, name?: string, kind = 'migration'): CliError {
    const code = statusCode(err);
    const detail = err instanceof KubeApiError ? apiMessage(err) : (err as Error).message;
    if (code === 404) {
      // A named object that is missing, or the whole resource (the CRDs are not installed).
      const missingKind = err instanceof KubeApiError && !(err.body as { details?: { name?: string } } | undefined)?.details?.name;
      if (name && !missingKind) return new CliError(`${kind} ${name} not found (kubectl get ${plural} lists them)`);
      return new CliError(`this cluster has no ${plural}.${GROUP} resource: are the cell-operator CRDs installed? (kubectl get crd ${plural}.${GROUP})`);
    }
    if (code === 401) return new CliError(`cannot ${what}: the API server does not accept these credentials (401): ${detail}`);
    if (code === 403) return new CliError(`cannot ${what}: forbidden (403): ${detail}`);
    if (code === 409) return new CliError(`cannot ${what}: it exists already (409): ${detail}`);
    if (code === 422 || code === 400) return new CliError(`the API server refused to ${what}: ${detail}`);
    if (code !== undefined) return new CliError(`cannot ${what}: ${detail}`);
    const cause = (err as { cause?: { code?: string }; code?: unknown }).cause?.code ?? (err as { code?: unknown }).code;
    return new CliError(`cannot reach ${this.server} to ${what}: ${typeof cause === 'string' ? cause : detail}`);
  }
}

function apiMessage(err: KubeApiError): string {
  const body = err.body as { message?: unknown } | undefined;
  return typeof body?.message === 'string' ? body.message : err.message;
}
