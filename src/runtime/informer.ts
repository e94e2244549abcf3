// An informer per kind: list + watch with resourceVersion tracking into a local cache, with
// add/update/delete handlers. It never gives up: 410 Gone re-lists (and deletions missed while
// away are reported by comparing the old cache with the new list), any other error restarts the
// watch after a jittered backoff, and a periodic resync hands every object to the handlers again.
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { isGone, statusCode, type KubeClient } from './kube-client.js';
import { apiVersionOf, objectKey, resourcePath, type KubeObject, type ResourceType } from './resource.js';

export interface ListPage<T> {
  items: T[];
  resourceVersion: string;
  continueToken?: string;
}

/** The two calls an informer makes; `kubeListWatch` is the real one, tests pass a fake. */
export interface ListWatchSource<T> {
  list(page: { limit: number; continueToken?: string }): Promise<ListPage<T>>;
  watch(
    resourceVersion: string,
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<{ abort(): void }>;
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  /** Also called with obj === old on a resync. */
  update?(obj: T, old: T): void;
  /** For a deletion seen on re-list, `obj` is the last state the cache knew. */
  delete?(obj: T): void;
}

export interface InformerOptions<T> {
  resource: ResourceType;
  source: ListWatchSource<T>;
  /** Default 10 minutes; 0 turns the resync off. */
  resyncMs?: number;
  /** Restart an idle watch after this long without any event (the server closes it sooner). */
  watchIdleMs?: number;
  backoff?: BackoffPolicy;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  onRestart?: (reason: 'gone' | 'error') => void;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceType;
  private cache = new Map<string, T>();
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private loop?: Promise<void>;
  private readonly handlers = new Set<InformerHandlers<T>>();
  private syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private interrupt?: () => void;
  private resyncTimer?: unknown;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly options: InformerOptions<T>) {
    this.resource = options.resource;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger()).child({ resource: options.resource.plural });
  }

  /** Registers handlers; returns the function that removes them. */
  on(handlers: InformerHandlers<T>): () => void {
    this.handlers.add(handlers);
    return () => this.handlers.delete(handlers);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
    this.scheduleResync();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.interrupt?.();
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    for (const waiter of this.syncWaiters.splice(0)) waiter.reject(new Error(`informer for ${this.resource.plural} stopped`));
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const began = this.clock.now();
      let outcome: WatchOutcome | Error;
      let events = 0;
      const relisted = !this.resourceVersion;
      try {
        if (relisted) await this.relist();
        if (this.stopped) break;
        ({ outcome, events } = await this.watchOnce());
      } catch (err) {
        outcome = err instanceof Error ? err : new Error(String(err));
        if (isGone(err)) outcome = 'gone';
      }
      if (this.stopped) break;
      if (outcome === 'gone') {
        this.resourceVersion = '';
        this.options.onRestart?.('gone');
        this.log.info('resourceVersion expired (410 Gone); re-listing');
      }
      // A watch that ends at once with nothing in it counts as a failure, lest we spin; but the
      // first 410 on resuming (say, after an API server restart) re-lists without waiting.
      const quiet = events === 0 && this.clock.now() - began < 1000;
      const healthy = !(outcome instanceof Error) && (!quiet || (outcome === 'gone' && !relisted));
      if (healthy) {
        failures = 0;
        continue;
      }
      failures += 1;
      const delay = backoffDelay(failures, this.options.backoff ?? { baseMs: 1000, maxMs: 30_000 }, this.options.random ?? Math.random);
      if (outcome instanceof Error) {
        this.options.onRestart?.('error');
        this.log.warn({ err: outcome, attempt: failures, retryInMs: delay }, 'list/watch failed; retrying');
      }
      const wait = sleep(this.clock, delay);
      this.interrupt = wait.wake;
      await wait.done;
      this.interrupt = undefined;
    }
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.options.source.list({ limit: 500, continueToken });
      items.push(...page.items.map((item) => this.withType(item)));
      continueToken = page.continueToken || undefined;
      resourceVersion = page.resourceVersion;
    } while (continueToken && !this.stopped);
    if (this.stopped) return;
    const previous = this.cache;
    this.cache = new Map(items.map((item) => [objectKey(item), item]));
    this.resourceVersion = resourceVersion;
    const changes = diffCache(previous, this.cache);
    this.log.debug({ count: items.length, deleted: changes.deleted.length }, 'listed');
    for (const obj of changes.deleted) this.emit('delete', obj);
    for (const obj of changes.added) this.emit('add', obj);
    for (const [obj, old] of changes.updated) this.emit('update', obj, old);
    if (!this.synced) {
      this.synced = true;
      for (const waiter of this.syncWaiters.splice(0)) waiter.resolve();
    }
  }

  private watchOnce(): Promise<{ outcome: WatchOutcome; events: number }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let events = 0;
      let handle: { abort(): void } | undefined;
      let idleTimer: unknown;
      const idleMs = this.options.watchIdleMs ?? 6 * 60_000;
      const settle = (outcome: WatchOutcome | Error): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(idleTimer);
        this.interrupt = undefined;
        handle?.abort();
        if (outcome instanceof Error) reject(outcome);
        else resolve({ outcome, events });
      };
      const armIdle = (): void => {
        this.clock.clearTimeout(idleTimer);
        idleTimer = this.clock.setTimeout(() => settle(new Error(`watch silent for ${idleMs} ms`)), idleMs);
      };
      this.interrupt = () => settle('stopped');
      armIdle();
      const onEvent = (type: string, raw: unknown): void => {
        if (settled) return;
        events += 1;
        armIdle();
        const obj = raw as T & { code?: number; message?: string };
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            this.upsert(this.withType(obj));
            break;
          case 'DELETED':
            this.remove(this.withType(obj));
            break;
          case 'BOOKMARK':
            this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
            break;
          case 'ERROR':
            // The API server reports an expired resourceVersion as an ERROR event with a Status.
            settle(obj.code === 410 ? 'gone' : new Error(`watch error ${obj.code ?? '?'}: ${obj.message ?? ''}`));
            break;
        }
      };
      const onDone = (err: unknown): void => {
        if (!err) settle('closed');
        else if (statusCode(err) === 410) settle('gone');
        else settle(err instanceof Error ? err : new Error(String(err)));
      };
      this.options.source.watch(this.resourceVersion, onEvent, onDone).then(
        (h) => {
          handle = h;
          if (settled) h.abort();
        },
        (err: unknown) => onDone(err ?? new Error('watch failed')),
      );
    });
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  private remove(obj: T): void {
    this.cache.delete(objectKey(obj));
    this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
    this.emit('delete', obj);
  }

  /** Items of a list of built-in kinds come without apiVersion and kind; fill them in. */
  private withType(obj: T): T {
    if (obj.apiVersion && obj.kind) return obj;
    return { ...obj, apiVersion: apiVersionOf(this.resource), kind: this.resource.kind };
  }

  private emit(event: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (event === 'add') h.add?.(obj);
        else if (event === 'update') h.update?.(obj, old ?? obj);
        else h.delete?.(obj);
      } catch (err) {
        this.log.error({ err, event, key: objectKey(obj) }, 'informer handler threw');
      }
    }
  }

  private scheduleResync(): void {
    const every = this.options.resyncMs ?? 10 * 60_000;
    if (every <= 0 || this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.synced) for (const obj of this.cache.values()) this.emit('update', obj, obj);
      this.scheduleResync();
    }, every);
  }
}

type WatchOutcome = 'closed' | 'gone' | 'stopped';

export interface CacheChanges<T> {
  added: T[];
  updated: Array<[T, T]>;
  deleted: T[];
}

/** What a re-list changed: new keys, keys whose resourceVersion moved, and keys that vanished. */
export function diffCache<T extends KubeObject>(previous: Map<string, T>, next: Map<string, T>): CacheChanges<T> {
  const changes: CacheChanges<T> = { added: [], updated: [], deleted: [] };
  for (const [key, old] of previous) if (!next.has(key)) changes.deleted.push(old);
  for (const [key, obj] of next) {
    const old = previous.get(key);
    if (!old) changes.added.push(obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) changes.updated.push([obj, old]);
  }
  return changes;
}

export interface KubeListWatchOptions {
  namespace?: string;
  labelSelector?: string;
  /** Asks the server to end each watch after this long (it is then resumed from the last resourceVersion). */
  watchTimeoutSeconds?: number;
}

/** The real source: paginated GETs through our client, and client-node's Watch for the stream. */
export function kubeListWatch<T extends KubeObject>(
  kc: KubeConfig,
  client: KubeClient,
  resource: ResourceType,
  options: KubeListWatchOptions = {},
): ListWatchSource<T> {
  const path = resourcePath(resource, { namespace: options.namespace });
  const watcher = new Watch(kc);
  return {
    async list({ limit, continueToken }) {
      const list = await client.request<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>({
        method: 'GET',
        path,
        query: { labelSelector: options.labelSelector, limit, continue: continueToken },
      });
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '', continueToken: list.metadata?.continue };
    },
    async watch(resourceVersion, onEvent, onDone) {
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: options.watchTimeoutSeconds ?? 300,
        labelSelector: options.labelSelector,
      };
      // client-node calls onDone once: with null when the server closes the stream, with the
      // error otherwise (a non-200 answer carries statusCode). Our abort() also ends in onDone.
      const controller = await watcher.watch(path, query, onEvent, onDone);
      return { abort: () => controller.abort() };
    },
  };
}

export interface CreateInformerOptions extends KubeListWatchOptions, Omit<InformerOptions<KubeObject>, 'resource' | 'source'> {}

export function createInformer<T extends KubeObject = KubeObject>(
  kc: KubeConfig,
  client: KubeClient,
  resource: ResourceType,
  options: CreateInformerOptions = {},
): Informer<T> {
  return new Informer<T>({ ...options, resource, source: kubeListWatch<T>(kc, client, resource, options) });
}
