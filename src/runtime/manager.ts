// Runs the operator process: the health server, the informers (on every replica, so a standby
// takes over with warm caches), leader election, and the controllers only while leading. On
// SIGTERM/SIGINT it stops taking work, lets in-flight reconciles finish, releases the Lease and
// exits 0. Losing the lease stops the controllers and the replica campaigns again.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { Controller, type ControllerOptions } from './controller.js';
import { EventRecorder } from './events.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { createInformer, type CreateInformerOptions, type Informer } from './informer.js';
import { createKubeClient, type KubeClient } from './kube-client.js';
import { LeaderElector } from './leader-election.js';
import { createMetrics, type RuntimeMetrics } from './metrics.js';
import type { KubeObject, ResourceType, TypedResource } from './resource.js';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  client?: KubeClient;
  logger?: Logger;
  metrics?: RuntimeMetrics;
  /** Serves /healthz, /readyz and /metrics; false for none (tests). */
  health?: { port: number; host?: string } | false;
  /** false runs the controllers at once, without a Lease (one replica, or tests). */
  leaderElection?:
    | { namespace: string; name: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number }
    | false;
  /** This replica's name in the Lease and in Events; defaults to the host name plus a random suffix. */
  identity?: string;
  /** Product and version for the User-Agent header (`cell-operator/0.1.0`); the identity is appended. */
  userAgent?: string;
  resyncMs?: number;
}

export class Manager {
  readonly client: KubeClient;
  readonly metrics: RuntimeMetrics;
  readonly events: EventRecorder;
  readonly identity: string;
  private readonly log: Logger;
  private readonly shared = new Map<string, Informer>();
  private readonly informers = new Set<Informer>();
  private readonly controllers: Controller[] = [];
  private elector?: LeaderElector;
  private health?: HealthServer;
  private started = false;
  private stopping?: Promise<void>;

  constructor(private readonly options: ManagerOptions) {
    this.identity = options.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`;
    this.client = options.client ?? createKubeClient(options.kubeConfig, { userAgent: `${options.userAgent ?? 'cell-operator'} (${this.identity})` });
    this.metrics = options.metrics ?? createMetrics({ processMetrics: true });
    this.log = options.logger ?? silentLogger();
    this.events = new EventRecorder({ client: this.client, instance: this.identity, logger: this.log });
  }

  /** The shared informer for a kind (and namespace and label selector), created on first use. */
  informer<T extends KubeObject = KubeObject>(resource: TypedResource<T> | ResourceType, options: Pick<CreateInformerOptions, 'namespace' | 'labelSelector'> = {}): Informer<T> {
    const id = [resource.group, resource.version, resource.plural, options.namespace ?? '', options.labelSelector ?? ''].join('|');
    let informer = this.shared.get(id);
    if (!informer) {
      informer = createInformer(this.options.kubeConfig, this.client, resource, {
        ...options,
        resyncMs: this.options.resyncMs,
        logger: this.log,
        onRestart: (reason) => this.metrics.watchRestarts.inc({ resource: resource.plural, reason }),
      });
      this.shared.set(id, informer);
      this.informers.add(informer);
      if (this.started) informer.start();
    }
    return informer as Informer<T>;
  }

  /**
   * Adds the controller of `informer`'s kind: what wakes it (`watches`), its reconcile, how many at
   * once, its log; the manager's metrics. Returns it, for the caller that wakes it by hand.
   */
  control<T extends KubeObject>(
    options: Pick<ControllerOptions<T>, 'name' | 'informer' | 'reconcile' | 'watches'>,
    deps: { concurrency: number; log: Logger },
  ): Controller {
    const controller = new Controller({ ...options, concurrency: deps.concurrency, metrics: this.metrics, logger: deps.log });
    this.add(controller);
    return controller;
  }

  add(controller: Controller): this {
    this.controllers.push(controller);
    for (const informer of controller.informers()) this.informers.add(informer);
    return this;
  }

  /** Problems that keep this replica from being ready: unsynced caches, no election running. */
  readinessProblems(): string[] {
    const problems = [...this.informers].filter((i) => !i.hasSynced()).map((i) => `cache of ${i.resource.plural} not synced`);
    if (this.elector && !this.elector.isRunning()) problems.push('leader election not running');
    if (this.stopping) problems.push('shutting down');
    return problems;
  }

  async start(): Promise<void> {
    const { health, leaderElection } = this.options;
    if (health) {
      this.health = await startHealthServer({ ...health, registry: this.metrics.registry, ready: () => this.readinessProblems() });
      this.log.info({ port: this.health.port }, 'serving /healthz, /readyz and /metrics');
    }
    this.started = true;
    for (const informer of this.informers) informer.start();
    if (!leaderElection) return this.lead(true);
    this.elector = new LeaderElector({
      ...leaderElection,
      client: this.client,
      identity: this.identity,
      logger: this.log,
      onStartedLeading: () => this.lead(true),
      onStoppedLeading: () => this.lead(false),
    });
    this.elector.start();
  }

  /** Graceful stop: no new work, in-flight reconciles finish, the Lease is released. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('shutting down');
      await Promise.all(this.controllers.map((c) => c.stop()));
      await this.elector?.stop();
      await Promise.all([...this.informers].map((i) => i.stop()));
      await this.health?.close();
      this.log.info('stopped');
    })();
    return this.stopping;
  }

  /** Starts, and on SIGTERM or SIGINT stops gracefully and exits 0 (a second signal exits 1 at once). */
  async runUntilSignal(exit: (code: number) => void = (code) => process.exit(code)): Promise<void> {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) return exit(1);
      signalled = true;
      this.log.info({ signal }, 'signal received');
      this.stop().then(
        () => exit(0),
        (err: unknown) => {
          this.log.error({ err }, 'unclean shutdown');
          exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    await this.start();
  }

  private lead(leading: boolean): void {
    if (leading && this.stopping) return;
    this.metrics.leader.set(leading ? 1 : 0);
    for (const controller of this.controllers) {
      const change = leading ? controller.start() : controller.stop();
      change.catch((err: unknown) => this.log.error({ err, controller: controller.name }, leading ? 'cannot start controller' : 'cannot stop controller'));
    }
  }
}
