// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: acquire or renew with
// optimistic concurrency (resourceVersion), take over a lease only after it went unrenewed for its
// duration by our own clock (so clock skew between nodes does not matter), step down when a renew
// has not succeeded within the renew deadline, and clear the holder on shutdown so that a standby
// takes over at once. The decision itself is a pure function.
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { FIELD_MANAGER } from './apply.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { isConflict, isNotFound, type KubeClient } from './kube-client.js';
import { microTime } from './kube-time.js';
import { builtin, resourcePath, type KubeObject } from './resource.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export type LeaseAction = 'create' | 'acquire' | 'renew' | 'standby';

export interface LeaseView {
  /** The lease as read, or undefined when it does not exist. */
  spec: LeaseSpec | undefined;
  exists: boolean;
  identity: string;
  nowMs: number;
  /** When we last saw the lease record change, by our clock. */
  observedAtMs: number;
  /** Used when the lease does not say its own duration. */
  defaultDurationMs: number;
}

export function decideLease(view: LeaseView): LeaseAction {
  if (!view.exists) return 'create';
  const holder = view.spec?.holderIdentity;
  if (holder === view.identity) return 'renew';
  if (!holder) return 'acquire';
  const durationMs = view.spec?.leaseDurationSeconds ? view.spec.leaseDurationSeconds * 1000 : view.defaultDurationMs;
  return view.nowMs >= view.observedAtMs + durationMs ? 'acquire' : 'standby';
}

/** The spec to write for an action; times are MicroTime (RFC 3339 with microseconds). */
export function nextLeaseSpec(
  action: Exclude<LeaseAction, 'standby'>,
  current: LeaseSpec | undefined,
  identity: string,
  nowMs: number,
  leaseDurationSeconds: number,
): LeaseSpec {
  const now = microTime(nowMs);
  if (action === 'renew') return { ...current, holderIdentity: identity, leaseDurationSeconds, renewTime: now };
  const transitions = current?.leaseTransitions ?? 0;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: now,
    renewTime: now,
    leaseTransitions: action === 'create' ? 0 : transitions + 1,
  };
}

/** A released lease: no holder, so that any candidate acquires it on its next try. */
export function releasedLeaseSpec(current: LeaseSpec | undefined, nowMs: number): LeaseSpec {
  const now = microTime(nowMs);
  return { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current?.leaseTransitions ?? 0 };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
}

type Attempt = 'held' | 'lost' | 'error';

export class LeaderElector {
  private leading = false;
  private stopped = true;
  private loop?: Promise<void>;
  private wake?: () => void;
  private deadline?: unknown;
  private lastWritten?: Lease;
  private observed?: { record: string; atMs: number };
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger()).child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    // client-go's 15 s / 10 s / 2 s, scaled: a shorter --lease-duration must not break the order.
    this.renewDeadlineMs = options.renewDeadlineMs ?? Math.round((this.leaseDurationMs * 2) / 3);
    this.retryPeriodMs = options.retryPeriodMs ?? Math.round((this.leaseDurationMs * 2) / 15);
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new Error('leader election needs retryPeriod < renewDeadline < leaseDuration');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  isRunning(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops campaigning; a leader releases the lease and then hears onStoppedLeading. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      await this.release();
      this.stepDown('shutting down');
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const attempt = await this.tryAcquireOrRenew();
      if (attempt === 'held') this.renewed();
      else if (attempt === 'lost' && this.leading) this.stepDown('the lease is held by another candidate');
      if (this.stopped) break;
      const jitter = this.leading ? 0 : (this.options.random ?? Math.random)() * 0.2 * this.retryPeriodMs;
      const wait = sleep(this.clock, this.retryPeriodMs + jitter);
      this.wake = wait.wake;
      await wait.done;
      this.wake = undefined;
    }
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { client, namespace, name, identity } = this.options;
    const path = resourcePath(builtin.lease, { namespace, name });
    const timeoutMs = Math.max(1000, this.renewDeadlineMs / 2);
    let lease: Lease | undefined;
    try {
      lease = await client.request<Lease>({ method: 'GET', path, timeoutMs });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn({ err }, 'cannot read the lease');
        return 'error';
      }
    }
    const now = this.clock.now();
    this.observe(lease?.spec, now);
    const action = decideLease({
      spec: lease?.spec,
      exists: lease !== undefined,
      identity,
      nowMs: now,
      observedAtMs: this.observed?.atMs ?? now,
      defaultDurationMs: this.leaseDurationMs,
    });
    if (action === 'standby') return 'lost';
    const spec = nextLeaseSpec(action, lease?.spec, identity, now, Math.round(this.leaseDurationMs / 1000));
    try {
      this.lastWritten = await this.write(lease, spec, timeoutMs);
      this.observe(this.lastWritten.spec, now);
      if (action !== 'renew') this.log.info({ action, transitions: spec.leaseTransitions }, 'acquired the lease');
      return 'held';
    } catch (err) {
      if (isConflict(err)) return 'lost';
      this.log.warn({ err, action }, 'cannot write the lease');
      return 'error';
    }
  }

  private write(current: Lease | undefined, spec: LeaseSpec, timeoutMs: number): Promise<Lease> {
    const { client, namespace, name } = this.options;
    const metadata = { name, namespace, ...(current?.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}) };
    const body: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec };
    const query = { fieldManager: FIELD_MANAGER };
    return current
      ? client.request<Lease>({ method: 'PUT', path: resourcePath(builtin.lease, { namespace, name }), query, body, timeoutMs })
      : client.request<Lease>({ method: 'POST', path: resourcePath(builtin.lease, { namespace }), query, body, timeoutMs });
  }

  private async release(): Promise<void> {
    if (!this.lastWritten) return;
    try {
      await this.write(this.lastWritten, releasedLeaseSpec(this.lastWritten.spec, this.clock.now()), this.renewDeadlineMs / 2);
      this.log.info('released the lease');
    } catch (err) {
      this.log.warn({ err }, 'cannot release the lease; another replica takes over when it expires');
    }
  }

  private observe(spec: LeaseSpec | undefined, nowMs: number): void {
    const record = JSON.stringify([spec?.holderIdentity, spec?.renewTime, spec?.acquireTime, spec?.leaseTransitions]);
    if (this.observed?.record !== record) this.observed = { record, atMs: nowMs };
  }

  private renewed(): void {
    // Step down by ourselves if no renew succeeds in time, however long a request hangs.
    this.clock.clearTimeout(this.deadline);
    this.deadline = this.clock.setTimeout(() => this.stepDown('could not renew the lease within the renew deadline'), this.renewDeadlineMs);
    if (this.leading) return;
    this.leading = true;
    this.log.info('started leading');
    this.options.onStartedLeading();
  }

  private stepDown(why: string): void {
    this.clock.clearTimeout(this.deadline);
    if (!this.leading) return;
    this.leading = false;
    this.log.warn({ why }, 'stopped leading');
    this.options.onStoppedLeading();
  }
}
