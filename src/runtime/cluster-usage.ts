// Which users (Cells) use which cluster: pure bookkeeping that says when a cluster's watches must
// start (its first user) and stop (its last user gone). The registry acts on what it returns.

export interface UsageChange {
  /** The cluster that just got its first user: start its informers. */
  start?: string;
  /** The cluster that just lost its last user: stop its informers and forget it. */
  stop?: string;
}

export class ClusterUsage {
  private readonly clusterOf = new Map<string, string>();
  private readonly users = new Map<string, Set<string>>();

  /** Records that `user` uses `cluster` (a user uses one cluster at a time). */
  use(user: string, cluster: string): UsageChange {
    const before = this.clusterOf.get(user);
    if (before === cluster) return {};
    const change: UsageChange = before === undefined ? {} : this.leave(user, before);
    this.clusterOf.set(user, cluster);
    const set = this.users.get(cluster) ?? new Set<string>();
    if (set.size === 0) change.start = cluster;
    set.add(user);
    this.users.set(cluster, set);
    return change;
  }

  /** `user` uses no cluster any more (its Cell is gone). */
  release(user: string): UsageChange {
    const cluster = this.clusterOf.get(user);
    if (cluster === undefined) return {};
    this.clusterOf.delete(user);
    return this.leave(user, cluster);
  }

  usersOf(cluster: string): string[] {
    return [...(this.users.get(cluster) ?? [])].sort();
  }

  clusters(): string[] {
    return [...this.users.keys()].sort();
  }

  private leave(user: string, cluster: string): UsageChange {
    const set = this.users.get(cluster);
    set?.delete(user);
    if (set && set.size > 0) return {};
    this.users.delete(cluster);
    return { stop: cluster };
  }
}
