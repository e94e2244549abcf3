// Reads what the move's Kafka drain needs from a cell's brokers: a topic's partition count and end
// offsets, and a consumer group's committed offsets. One admin client per bootstrap address,
// dropped after an error so that the next call connects afresh.
import type { Logger } from '../log.js';
import { kafkaClient, type Admin } from './kafka-client.js';
import { settingsFor, type KafkaSettings } from './kafka-settings.js';

export interface TopicEnd {
  partition: number;
  /** The high watermark: the offset the next message will get. */
  end: string;
}

export interface KafkaOffsets {
  /** Every partition of `topic` with its end offset. */
  topicEnds(bootstrap: string, topic: string): Promise<TopicEnd[]>;
  /** The group's committed offset per partition of `topic` (null: none), and whether the group is known to the broker. */
  committed(bootstrap: string, group: string, topic: string): Promise<{ known: boolean; offsets: Map<number, string | null> }>;
  close(): Promise<void>;
}

export class KafkaAdminOffsets implements KafkaOffsets {
  private readonly admins = new Map<string, Promise<Admin>>();

  constructor(
    private readonly base: KafkaSettings,
    private readonly log: Logger,
  ) {}

  private admin(bootstrap: string): Promise<Admin> {
    let a = this.admins.get(bootstrap);
    if (!a) {
      const admin = kafkaClient(settingsFor(this.base, bootstrap), this.log, { connectionTimeoutMs: 2_000, retries: 2 }).admin();
      a = admin.connect().then(() => admin);
      this.admins.set(bootstrap, a);
      a.catch(() => this.admins.delete(bootstrap));
    }
    return a;
  }

  private async use<T>(bootstrap: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = await this.admin(bootstrap);
    try {
      return await fn(admin);
    } catch (err) {
      this.admins.delete(bootstrap);
      await admin.disconnect().catch(() => undefined);
      throw err;
    }
  }

  topicEnds(bootstrap: string, topic: string): Promise<TopicEnd[]> {
    return this.use(bootstrap, async (admin) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, end: o.high })).sort((a, b) => a.partition - b.partition);
    });
  }

  committed(bootstrap: string, group: string, topic: string): Promise<{ known: boolean; offsets: Map<number, string | null> }> {
    return this.use(bootstrap, async (admin) => {
      const [groups, fetched] = await Promise.all([admin.listGroups(), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
      const offsets = new Map<number, string | null>();
      for (const t of fetched) for (const p of t.partitions) offsets.set(p.partition, p.offset === '-1' ? null : p.offset);
      return { known: groups.groups.some((g) => g.groupId === group), offsets };
    });
  }

  async close(): Promise<void> {
    const all = [...this.admins.values()];
    this.admins.clear();
    await Promise.allSettled(all.map(async (a) => (await a).disconnect()));
  }
}
