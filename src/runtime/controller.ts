// A controller: the informer of its primary kind, and those of the children it owns, feed a work
// queue of primary keys; the reconcile gets only the key and reads the latest object from the
// cache (never the event). Started when this replica leads, stopped (in-flight work finished) when
// it stops leading or shuts down.
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { BackoffPolicy } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import type { Informer, InformerHandlers } from './informer.js';
import { statusCode } from './kube-client.js';
import { queueObserver, type ReconcileOutcome, type RuntimeMetrics } from './metrics.js';
import { objectKey, type KubeObject, type ResourceType } from './resource.js';
import { WorkQueue, type ReconcileResult } from './work-queue.js';

export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

/** Which primary keys a change to a watched (child) object concerns. */
export type KeyMapper = (obj: KubeObject) => string[];

export interface WatchedInformer {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any kind of child
  informer: Informer<any>;
  toKeys: KeyMapper;
}

/** A watch whose mapper gets the watched kind's own type (the informer only ever hands it those). */
export function watch<T extends KubeObject>(informer: Informer<T>, toKeys: (obj: T) => string[]): WatchedInformer {
  return { informer, toKeys: (obj) => toKeys(obj as T) };
}

export interface ControllerOptions<T extends KubeObject> {
  name: string;
  informer: Informer<T>;
  /** Children (or anything else) whose changes should reconcile their owner. */
  watches?: WatchedInformer[];
  reconcile: Reconcile;
  concurrency?: number;
  backoff?: BackoffPolicy;
  metrics?: RuntimeMetrics;
  clock?: Clock;
  logger?: Logger;
}

/** Maps a child to the primary object that controls it through its ownerReferences. */
export function ownerKeysOf(owner: ResourceType): KeyMapper {
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((ref) => ref.controller && ref.kind === owner.kind && groupOf(ref.apiVersion) === owner.group)
      .map((ref) => (owner.namespaced && obj.metadata?.namespace ? `${obj.metadata.namespace}/${ref.name}` : ref.name));
}

/** Maps an object to the cluster-scoped primary named by one of its labels (e.g. cells.platform.io/cell). */
export function labelKeysOf(label: string): KeyMapper {
  return (obj) => {
    const value = obj.metadata?.labels?.[label];
    return value ? [value] : [];
  };
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export class Controller<T extends KubeObject = KubeObject> {
  readonly name: string;
  private queue?: WorkQueue;
  private unsubscribe: Array<() => void> = [];
  private wanted = false;
  private term = 0;
  private stopping: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly options: ControllerOptions<T>) {
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger()).child({ controller: options.name });
  }

  /** Every informer this controller reads; the manager starts them. */
  informers(): Informer[] {
    return [this.options.informer as Informer, ...(this.options.watches ?? []).map((w) => w.informer as Informer)];
  }

  /** Waits for the caches, then reconciles every primary object and follows changes. */
  async start(): Promise<void> {
    if (this.wanted) return;
    this.wanted = true;
    const term = ++this.term;
    // A key must not run in a new queue while the old one still finishes it.
    await this.stopping;
    try {
      await Promise.all(this.informers().map((i) => i.waitForSync()));
    } catch (err) {
      if (!this.wanted) return; // the informers were stopped because we are shutting down
      throw err;
    }
    if (!this.wanted || term !== this.term) return;
    const { metrics } = this.options;
    const queue = new WorkQueue((key) => this.reconcileOne(key), {
      concurrency: this.options.concurrency ?? 2,
      backoff: this.options.backoff,
      clock: this.clock,
      observer: metrics ? queueObserver(metrics, this.name) : undefined,
      logger: this.log,
    });
    this.queue = queue;
    const enqueue = (keys: string[]) => keys.forEach((key) => queue.add(key));
    const follow = (informer: Informer<KubeObject>, toKeys: KeyMapper): (() => void) => {
      const handlers: InformerHandlers<KubeObject> = {
        add: (obj) => enqueue(toKeys(obj)),
        update: (obj, old) => enqueue([...new Set([...toKeys(obj), ...toKeys(old)])]),
        delete: (obj) => enqueue(toKeys(obj)),
      };
      return informer.on(handlers);
    };
    this.unsubscribe = [
      follow(this.options.informer as Informer<KubeObject>, (obj) => [objectKey(obj)]),
      ...(this.options.watches ?? []).map((w) => follow(w.informer, w.toKeys)),
    ];
    enqueue(this.options.informer.keys());
    this.log.info({ objects: this.options.informer.keys().length }, 'controller started');
  }

  /** Stops taking work and resolves when the reconciles in flight have finished. */
  async stop(): Promise<void> {
    this.wanted = false;
    for (const off of this.unsubscribe.splice(0)) off();
    const queue = this.queue;
    this.queue = undefined;
    if (!queue) return this.stopping;
    this.stopping = queue.shutdown().then(() => this.log.info('controller stopped'));
    return this.stopping;
  }

  /** Asks for a reconcile of `key` from outside the informers (e.g. a database notification). */
  enqueue(key: string): void {
    this.queue?.add(key);
  }

  private async reconcileOne(key: string): Promise<ReconcileResult | void> {
    const { metrics } = this.options;
    const started = this.clock.now();
    let outcome: ReconcileOutcome = 'error';
    try {
      const result = await this.options.reconcile(key);
      outcome = result?.requeueAfter ? 'requeue' : 'success';
      return result;
    } catch (err) {
      metrics?.reconcileErrors.inc({ controller: this.name });
      const attempt = (this.queue?.failuresOf(key) ?? 0) + 1;
      this.log.error({ key, err, status: statusCode(err), attempt }, 'reconcile failed; retrying with backoff');
      throw err;
    } finally {
      const ms = this.clock.now() - started;
      metrics?.reconciles.inc({ controller: this.name, result: outcome });
      metrics?.reconcileDuration.observe({ controller: this.name }, ms / 1000);
      this.log.debug({ key, result: outcome, ms }, 'reconciled');
    }
  }
}
