import { FakeClock } from '../../test/support/fake-clock.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { KubeApiError, type KubeRequest } from './kube-client.js';
import { microTime } from './kube-time.js';
import { LeaderElector, decideLease, nextLeaseSpec, releasedLeaseSpec, type Lease, type LeaseView } from './leader-election.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const view = (over: Partial<LeaseView>): LeaseView => ({
  spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: microTime(0) },
  exists: true,
  identity: 'me',
  nowMs: 0,
  observedAtMs: 0,
  defaultDurationMs: 15_000,
  ...over,
});

describe('decideLease', () => {
  it('creates a lease that does not exist', () => {
    expect(decideLease(view({ exists: false, spec: undefined }))).toBe('create');
  });

  it('renews a lease it holds', () => {
    expect(decideLease(view({ spec: { holderIdentity: 'me', leaseDurationSeconds: 15 } }))).toBe('renew');
  });

  it('acquires a released lease at once', () => {
    expect(decideLease(view({ spec: { leaseDurationSeconds: 1 } }))).toBe('acquire');
  });

  it('stands by while another holder has renewed within the lease duration, by our own clock', () => {
    expect(decideLease(view({ observedAtMs: 100_000, nowMs: 114_999 }))).toBe('standby');
  });

  it('acquires once the record has not changed for the lease duration', () => {
    expect(decideLease(view({ observedAtMs: 100_000, nowMs: 115_000 }))).toBe('acquire');
  });

  it('ignores the holder’s renewTime, so clock skew cannot make it take over early', () => {
    const skewed = view({ spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: microTime(0) }, observedAtMs: 1_000_000, nowMs: 1_000_500 });
    expect(decideLease(skewed)).toBe('standby');
  });
});

describe('lease specs', () => {
  it('counts a transition when it takes over, not when it renews', () => {
    const held = { holderIdentity: 'other', leaseDurationSeconds: 15, acquireTime: microTime(0), renewTime: microTime(0), leaseTransitions: 3 };
    expect(nextLeaseSpec('acquire', held, 'me', 20_000, 15)).toEqual({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: '1970-01-01T00:00:20.000000Z',
      renewTime: '1970-01-01T00:00:20.000000Z',
      leaseTransitions: 4,
    });
    const mine = nextLeaseSpec('renew', { ...held, holderIdentity: 'me' }, 'me', 22_000, 15);
    expect(mine).toMatchObject({ acquireTime: microTime(0), renewTime: microTime(22_000), leaseTransitions: 3 });
    expect(nextLeaseSpec('create', undefined, 'me', 0, 15).leaseTransitions).toBe(0);
  });

  it('releases by clearing the holder and keeping the transition count', () => {
    expect(releasedLeaseSpec({ holderIdentity: 'me', leaseTransitions: 2 }, 0)).toEqual({
      leaseDurationSeconds: 1,
      acquireTime: microTime(0),
      renewTime: microTime(0),
      leaseTransitions: 2,
    });
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe('2025-01-02T03:04:05.678000Z');
  });
});

/** One Lease held in memory with the API server's optimistic concurrency. */
function leaseServer() {
  let lease: Lease | undefined;
  let rv = 0;
  let down = false;
  const handle = (req: KubeRequest): unknown => {
    if (down) throw new Error('ECONNREFUSED');
    if (req.method === 'GET') {
      if (!lease) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(lease);
    }
    const body = req.body as Lease;
    if (req.method === 'POST') {
      if (lease) throw new KubeApiError(409, 'AlreadyExists', 'exists');
    } else if (body.metadata?.resourceVersion !== lease?.metadata?.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', 'the object has been modified');
    }
    lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } };
    return structuredClone(lease);
  };
  return {
    client: () => new FakeKubeClient(handle),
    holder: () => lease?.spec?.holderIdentity,
    transitions: () => lease?.spec?.leaseTransitions,
    setDown: (value: boolean) => (down = value),
  };
}

function candidate(server: ReturnType<typeof leaseServer>, clock: FakeClock, identity: string, leaseDurationMs?: number) {
  const log: string[] = [];
  const elector = new LeaderElector({
    client: server.client(),
    namespace: 'ops',
    name: 'cell-operator',
    identity,
    ...(leaseDurationMs ? { leaseDurationMs } : {}),
    clock,
    random: () => 0,
    onStartedLeading: () => log.push('started'),
    onStoppedLeading: () => log.push('stopped'),
  });
  return { elector, log };
}

/** Advances the fake clock in retry-period steps, letting requests complete in between. */
async function run(clock: FakeClock, ms: number) {
  for (let t = 0; t < ms; t += 1000) {
    clock.advance(1000);
    await flush();
  }
}

/** Candidates a and b on one Lease (`leaseMs`, the default when absent), a started first. */
async function twoCandidates(leaseMs?: number) {
  const clock = new FakeClock(1_000_000);
  const server = leaseServer();
  const a = candidate(server, clock, 'a', leaseMs);
  const b = candidate(server, clock, 'b', leaseMs);
  a.elector.start();
  await flush();
  b.elector.start();
  return { clock, server, a, b };
}

describe('LeaderElector', () => {
  it('lets exactly one of two candidates lead', async () => {
    const { clock, server, a, b } = await twoCandidates();
    await run(clock, 30_000);
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    expect(server.holder()).toBe('a');
    expect(b.log).toEqual([]);
  });

  it('takes over within the lease duration (plus one retry) after the leader dies without a word', async () => {
    const { clock, server, a, b } = await twoCandidates();
    await run(clock, 10_000);
    // "SIGKILL": a stops renewing and never releases.
    (a.elector as unknown as { stopped: boolean }).stopped = true;
    const killedAt = clock.now();
    let tookOverAt = 0;
    for (let t = 0; t < 30_000 && !tookOverAt; t += 1000) {
      await run(clock, 1000);
      if (b.elector.isLeader()) tookOverAt = clock.now();
    }
    expect(tookOverAt - killedAt).toBeLessThanOrEqual(15_000 + 2_000 + 1_000);
    expect(server.holder()).toBe('b');
    expect(server.transitions()).toBe(1);
  });

  it('scales the renew deadline and retry period to a short lease (--lease-duration 6), and takes over within it', async () => {
    const { clock, server, a } = await twoCandidates(6000);
    await run(clock, 5000);
    expect(server.holder()).toBe('a');
    (a.elector as unknown as { stopped: boolean }).stopped = true;
    await run(clock, 6000 + 1000 + 1000);
    expect(server.holder()).toBe('b');
  });

  it('hands over at once when the leader releases the lease on shutdown', async () => {
    const clock = new FakeClock(1_000_000);
    const server = leaseServer();
    const a = candidate(server, clock, 'a');
    const b = candidate(server, clock, 'b');
    a.elector.start();
    await flush();
    b.elector.start();
    await run(clock, 5000);
    await a.elector.stop();
    expect(a.log).toEqual(['started', 'stopped']);
    expect(server.holder()).toBeUndefined();
    await run(clock, 3000);
    expect(b.elector.isLeader()).toBe(true);
  });

  it('steps down when it cannot renew within the renew deadline, and leads again when the API returns', async () => {
    const clock = new FakeClock(1_000_000);
    const server = leaseServer();
    const a = candidate(server, clock, 'a');
    a.elector.start();
    await run(clock, 3000);
    expect(a.elector.isLeader()).toBe(true);
    server.setDown(true);
    await run(clock, 9000);
    expect(a.elector.isLeader()).toBe(true);
    await run(clock, 2000);
    expect(a.elector.isLeader()).toBe(false);
    server.setDown(false);
    await run(clock, 3000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['started', 'stopped', 'started']);
    await a.elector.stop();
  });
});
