// Kubernetes Events (events.k8s.io/v1) about our objects, reported by `cell-operator`. A repeat of
// the same event (object, type, reason and note) within the series window bumps the series count
// of the existing Event instead of creating another one. Events are best effort: a failure to
// record one is logged, never thrown into a reconcile.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { systemClock, type Clock } from './clock.js';
import { FIELD_MANAGER } from './apply.js';
import { ContentType, isNotFound, type KubeClient } from './kube-client.js';
import { microTime } from './kube-time.js';
import { builtin, resourcePath, type KubeObject } from './resource.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: KubeClient;
  /** This replica, e.g. the pod name. */
  instance: string;
  controller?: string;
  /** Repeats further apart than this start a new Event (default 10 minutes). */
  seriesWindowMs?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Sent {
  namespace: string;
  name: string;
  count: number;
  lastMs: number;
}

const NOTE_LIMIT = 1024;
const REMEMBERED = 1000;

export class EventRecorder {
  private readonly sent = new Map<string, Sent>();
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly options: EventRecorderOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
  }

  normal(regarding: KubeObject, reason: string, note: string, action = reason): Promise<void> {
    return this.record(regarding, 'Normal', reason, note, action);
  }

  warning(regarding: KubeObject, reason: string, note: string, action = reason): Promise<void> {
    return this.record(regarding, 'Warning', reason, note, action);
  }

  async record(regarding: KubeObject, type: EventType, reason: string, note: string, action: string): Promise<void> {
    try {
      await this.send(regarding, type, reason, note.slice(0, NOTE_LIMIT), action);
    } catch (err) {
      this.log.warn({ err, reason, object: regarding.metadata?.name }, 'cannot record an event');
    }
  }

  private async send(regarding: KubeObject, type: EventType, reason: string, note: string, action: string): Promise<void> {
    const { name, namespace, uid } = regarding.metadata ?? {};
    const key = [uid ?? `${namespace}/${name}`, type, reason, note].join('\u0000');
    const now = this.clock.now();
    const previous = this.sent.get(key);
    if (previous && now - previous.lastMs < (this.options.seriesWindowMs ?? 10 * 60_000)) {
      const count = previous.count + 1;
      try {
        await this.options.client.request({
          method: 'PATCH',
          path: resourcePath(builtin.event, { namespace: previous.namespace, name: previous.name }),
          query: { fieldManager: FIELD_MANAGER },
          contentType: ContentType.mergePatch,
          body: { series: { count, lastObservedTime: microTime(now) } },
        });
        this.remember(key, { ...previous, count, lastMs: now });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // The Event expired (the API server keeps them for an hour); start a new one.
      }
    }
    // Events about cluster-scoped objects live in `default`, as kubectl describe expects.
    const eventNamespace = namespace ?? 'default';
    const eventName = `${name ?? 'object'}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
    await this.options.client.request({
      method: 'POST',
      path: resourcePath(builtin.event, { namespace: eventNamespace }),
      query: { fieldManager: FIELD_MANAGER },
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName, namespace: eventNamespace },
        eventTime: microTime(now),
        reportingController: this.options.controller ?? FIELD_MANAGER,
        reportingInstance: this.options.instance.slice(0, 128),
        action: action.slice(0, 128),
        reason: reason.slice(0, 128),
        type,
        note,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name,
          namespace,
          uid,
          resourceVersion: regarding.metadata?.resourceVersion,
        },
      },
    });
    this.remember(key, { namespace: eventNamespace, name: eventName, count: 1, lastMs: now });
  }

  private remember(key: string, sent: Sent): void {
    this.sent.delete(key);
    this.sent.set(key, sent);
    // Forget the oldest first (a Map iterates in insertion order).
    for (const oldest of this.sent.keys()) {
      if (this.sent.size <= REMEMBERED) break;
      this.sent.delete(oldest);
    }
  }
}
