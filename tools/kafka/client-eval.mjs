// Evaluation of Node Kafka clients against a real broker (see docs/kafka.md): run it from a scratch
// directory with kafkajs@2.2.4 and @platformatic/kafka@1.35.0 installed: node client-eval.mjs <bootstrap> [messages]
process.on('unhandledRejection', (e) => { console.log('unhandled', String(e).slice(0, 200)); });
// Client evaluation against a real Kafka 4.1.1 broker: idempotent produce throughput, group consume
// with manual commits, committed offsets vs end offsets, rebalance between two members.
import { Admin, Consumer, Producer, stringSerializers, stringDeserializers, GroupProtocols } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
const bootstrap = process.argv[2];
const N = Number(process.argv[3] ?? 50000);
const PARTS = 6;
const out = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msgs = (n, tag) => Array.from({ length: n }, (_, i) => ({ key: `cust-${i % 97}`, value: JSON.stringify({ i, tag, device: 'd1', value: i * 0.5, ts: Date.now() }) }));

async function platformatic(protocol) {
  const topic = `plt-${protocol}-${Date.now()}`;
  const admin = new Admin({ clientId: 'a', bootstrapBrokers: [bootstrap] });
  await admin.createTopics({ topics: [topic], partitions: PARTS, replicas: 1 });
  const producer = new Producer({ clientId: 'p', bootstrapBrokers: [bootstrap], serializers: stringSerializers, idempotent: true, acks: -1 });
  const all = msgs(N, 'plt');
  let t = Date.now();
  const inflight = [];
  for (let i = 0; i < all.length; i += 500) {
    inflight.push(producer.send({ messages: all.slice(i, i + 500).map((m) => ({ ...m, topic })) }));
    if (inflight.length >= Number(process.env.INFLIGHT ?? 1)) await inflight.shift();
  }
  await Promise.all(inflight);
  const produceMs = Date.now() - t;
  const info = producer.producerId;
  // consume with a group, manual commit per message batch
  const group = `g-${topic}`;
  const opts = { groupId: group, clientId: 'c1', bootstrapBrokers: [bootstrap], deserializers: stringDeserializers, ...(protocol === 'consumer' ? { groupProtocol: GroupProtocols.CONSUMER } : {}) };
  const c1 = new Consumer(opts);
  t = Date.now();
  const stream = await c1.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false, maxWaitTime: 200 });
  let seen = 0;
  const last = new Map();
  for await (const m of stream) {
    seen++;
    last.set(m.partition, m);
    if (seen % 500 === 0) await m.commit();
    if (seen === N) break;
  }
  for (const m of last.values()) await m.commit();
  const consumeMs = Date.now() - t;
  await stream.close().catch(() => {});
  const committed = await admin.listConsumerGroupOffsets({ groups: [group] });
  const sumCommitted = committed[0].topics.flatMap((x) => x.partitions).reduce((a, p) => a + Number(p.committedOffset), 0);
  const ends = await c1.listOffsets({ topics: [topic] });
  const sumEnd = [...ends.get(topic)].reduce((a, o) => a + Number(o), 0);
  await c1.close();
  // rebalance: two members
  const g2 = `${group}-r`;
  const a = new Consumer({ ...opts, groupId: g2, clientId: 'ra' });
  const b = new Consumer({ ...opts, groupId: g2, clientId: 'rb' });
  const sa = await a.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  sa.resume?.();
  sa.on('data', () => {});
  await sleep(2000);
  const sb = await b.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  sb.on('data', () => {});
  let split;
  for (let i = 0; i < 40; i++) {
    await sleep(250);
    const pa = (a.assignments ?? []).flatMap((x) => x.partitions);
    const pb = (b.assignments ?? []).flatMap((x) => x.partitions);
    split = { a: pa.sort(), b: pb.sort() };
    if (pa.length && pb.length && pa.length + pb.length === PARTS) break;
  }
  await sb.close().catch(() => {}); await b.close(true).catch(() => {});
  let after;
  for (let i = 0; i < 60; i++) {
    await sleep(250);
    after = (a.assignments ?? []).flatMap((x) => x.partitions).length;
    if (after === PARTS) break;
  }
  await sa.close().catch(() => {}); await a.close(true).catch(() => {});
  await producer.close(); await admin.close();
  return { produceMsgPerS: Math.round(N / produceMs * 1000), consumeMsgPerS: Math.round(N / consumeMs * 1000), producerId: String(info), committedEqualsEnd: sumCommitted === sumEnd, sumCommitted, sumEnd, rebalanceSplit: split, afterLeaveA: after };
}

async function kjs() {
  const topic = `kjs-${Date.now()}`;
  const kafka = new kafkajs.Kafka({ clientId: 'k', brokers: [bootstrap], logLevel: kafkajs.logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTS, replicationFactor: 1 }] });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const all = msgs(N, 'kjs');
  let t = Date.now();
  for (let i = 0; i < all.length; i += 500) await producer.send({ topic, acks: -1, messages: all.slice(i, i + 500) });
  const produceMs = Date.now() - t;
  const group = `g-${topic}`;
  const c = kafka.consumer({ groupId: group, maxWaitTimeInMs: 200 });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  t = Date.now();
  await new Promise((resolve, reject) => {
    c.run({ autoCommit: false, eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const m of batch.messages) { seen++; resolveOffset(m.offset); }
      await c.commitOffsets([{ topic, partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }]);
      await heartbeat();
      if (seen >= N) resolve();
    } }).catch(reject);
  });
  const consumeMs = Date.now() - t;
  await c.disconnect();
  const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const sumCommitted = committed[0].partitions.reduce((a, p) => a + Number(p.offset), 0);
  const ends = await admin.fetchTopicOffsets(topic);
  const sumEnd = ends.reduce((a, p) => a + Number(p.high), 0);
  // rebalance
  const g2 = `${group}-r`;
  const assigned = { a: [], b: [] };
  const mk = (name) => { const x = kafka.consumer({ groupId: g2 }); x.on(x.events.GROUP_JOIN, (e) => { assigned[name] = e.payload.memberAssignment[topic] ?? []; }); return x; };
  const ca = mk('a'), cb = mk('b');
  await ca.connect(); await ca.subscribe({ topic, fromBeginning: true }); ca.run({ eachMessage: async () => {} });
  await sleep(4000);
  await cb.connect(); await cb.subscribe({ topic, fromBeginning: true }); cb.run({ eachMessage: async () => {} });
  for (let i = 0; i < 60; i++) { await sleep(250); if (assigned.a.length && assigned.b.length && assigned.a.length + assigned.b.length === PARTS) break; }
  const split = { ...assigned };
  await cb.disconnect();
  for (let i = 0; i < 60; i++) { await sleep(250); if (assigned.a.length === PARTS) break; }
  const after = assigned.a.length;
  await ca.disconnect(); await producer.disconnect(); await admin.disconnect();
  return { produceMsgPerS: Math.round(N / produceMs * 1000), consumeMsgPerS: Math.round(N / consumeMs * 1000), committedEqualsEnd: sumCommitted === sumEnd, sumCommitted, sumEnd, rebalanceSplit: split, afterLeaveA: after };
}

for (const [name, f] of [['kafkajs', () => kjs()], ['platformatic-classic', () => platformatic('classic')], ['platformatic-consumer-protocol', () => platformatic('consumer')], ['kafkajs-again', () => kjs()]]) {
  try { out[name] = await f(); } catch (e) { out[name] = { error: String(e?.stack ?? e).slice(0, 1500) }; }
  console.log(name, JSON.stringify(out[name]));
}
process.on('unhandledRejection', () => {}); process.exit(0);
