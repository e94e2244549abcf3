// Concurrent single-message sends through an idempotent producer (see docs/kafka.md): are all
// acknowledged messages on the topic, once? node client-eval-concurrent.mjs <bootstrap>
// Concurrent single-message sends with an idempotent producer: are all acknowledged messages on the topic, once?
import { Admin, Producer, Consumer } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
const bootstrap = process.argv[2];
const N = 2000, C = 20;
process.on('unhandledRejection', () => {});
async function ends(topic) {
  const c = new Consumer({ groupId: 'x', clientId: 'x', bootstrapBrokers: [bootstrap] });
  const o = await c.listOffsets({ topics: [topic] }); await c.close();
  return [...o.get(topic)].reduce((a, x) => a + Number(x), 0);
}
async function drive(send) {
  let acked = 0, failed = 0; const offs = new Set(); let i = 0; const t = Date.now();
  await Promise.all(Array.from({ length: C }, async () => { while (i < N) { const k = i++; try { const r = await send(k); acked++; for (const o of r) offs.add(o); } catch { failed++; } } }));
  return { acked, failed, distinctOffsets: offs.size, msgPerS: Math.round(N / (Date.now() - t) * 1000) };
}
const admin = new Admin({ clientId: 'a', bootstrapBrokers: [bootstrap] });
for (const lib of ['platformatic', 'kafkajs']) {
  const topic = `conc-${lib}`;
  await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
  let r;
  if (lib === 'platformatic') {
    const p = new Producer({ clientId: 'p', bootstrapBrokers: [bootstrap], idempotent: true, acks: -1 });
    r = await drive(async (k) => (await p.send({ messages: [{ topic, key: Buffer.from(`c${k % 7}`), value: Buffer.from(String(k)) }] })).offsets.map((o) => `${o.partition}:${o.offset}`));
    await p.close();
  } else {
    const kafka = new kafkajs.Kafka({ clientId: 'k', brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING });
    const p = kafka.producer({ idempotent: true }); await p.connect();
    r = await drive(async (k) => (await p.send({ topic, acks: -1, messages: [{ key: `c${k % 7}`, value: String(k) }] })).map((o) => `${o.partition}:${o.baseOffset}`));
    await p.disconnect();
  }
  console.log(lib, JSON.stringify({ ...r, onTopic: await ends(topic) }));
}
await admin.close();
process.exit(0);
