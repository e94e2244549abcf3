// The reference data path on real parts: device → gateway → router → the cell's Kafka →
// ingestion worker → cell database. Every reading the gateway acknowledges is one row in the
// customer's cell, also when the worker is killed mid-stream; a message that reaches a cell the
// customer does not live in is forwarded to the right one.
import kafkajs from 'kafkajs';
import { placeCustomers } from '../data/cells-fixture.js';
import { encodeMessage } from '../../../src/kafka/telemetry-message.js';
import { KafkaAdminOffsets } from '../../../src/kafka/group-offsets.js';
import { silentLogger } from '../../../src/log.js';
import { GROUP, sendReadings, startDataPathWorld, TOPIC, type DataPathWorld } from '../../support/data-path.js';

const TIMEOUT = 180_000;
let world: DataPathWorld;

beforeAll(async () => {
  world = await startDataPathWorld();
}, TIMEOUT);

afterAll(async () => {
  await world?.stop();
}, TIMEOUT);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idsIn(cell: string, customer: string): Promise<number[]> {
  const { rows } = await world.cells.pools[cell]!.query<{ id: string }>('SELECT id FROM readings WHERE customer_id = $1 ORDER BY id', [customer]);
  return rows.map((r) => Number(r.id));
}

/** The ingestion group of `cell` has committed every message of its topic: nothing is stuck. */
async function consumed(cell: string): Promise<boolean> {
  const offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'test', ssl: false }, silentLogger());
  try {
    const bootstrap = world.brokers[cell]!.bootstrap;
    const ends = await offsets.topicEnds(bootstrap, TOPIC);
    const { offsets: committed } = await offsets.committed(bootstrap, GROUP, TOPIC);
    return ends.every((e) => BigInt(committed.get(e.partition) ?? '0') >= BigInt(e.end));
  } finally {
    await offsets.close();
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('the data path of a cell', () => {
  it('writes every acknowledged reading exactly once, while the ingestion worker is killed and restarted', async () => {
    const customers = ['dp-1', 'dp-2', 'dp-3'];
    await placeCustomers(world.cells.cp, customers, 'cell-a');
    await sleep(500); // the router's index follows the table
    const acked = new Map<string, number[]>(customers.map((c) => [c, []]));
    let next = 1;
    const send = async (rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        for (const c of customers) {
          const batch = Array.from({ length: 20 }, () => ({ id: next++, device: `d${next % 4}`, value: next }));
          const res = await sendReadings(world.gateway.url, c, batch);
          if (res.status === 202) acked.get(c)!.push(...batch.map((b) => b.id));
        }
      }
    };
    await send(10);
    await world.ingest['cell-a']!.kill();
    await send(10); // produced while no worker consumes
    await world.startIngest('cell-a');
    await send(10);
    for (const c of customers) {
      const want = acked.get(c)!;
      expect(want.length).toBe(600);
      await until(`the rows of ${c}`, async () => (await idsIn('cell-a', c)).length >= want.length);
      expect(await idsIn('cell-a', c)).toEqual(want);
      expect(await idsIn('cell-b', c)).toEqual([]);
    }
    await until('the group to commit every message of cell-a', () => consumed('cell-a'), 30_000);
  });

  it('forwards a message produced to a cell the customer does not live in to the customer\'s cell', async () => {
    await placeCustomers(world.cells.cp, ['dp-elsewhere'], 'cell-b');
    await sleep(500);
    // A stale producer: still sends this customer's readings to cell-a's topic.
    const kafka = new kafkajs.Kafka({ clientId: 'stale', brokers: [world.brokers['cell-a']!.bootstrap], logLevel: kafkajs.logLevel.NOTHING });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const ids = [900_001, 900_002, 900_003];
    await producer.send({ topic: TOPIC, acks: -1, messages: ids.map((id) => ({ key: 'dp-elsewhere', value: encodeMessage({ customer: 'dp-elsewhere', id, device: 'old', value: 1 }) })) });
    // ... and sends one twice (a retry of its own).
    await producer.send({ topic: TOPIC, acks: -1, messages: [{ key: 'dp-elsewhere', value: encodeMessage({ customer: 'dp-elsewhere', id: 900_001, device: 'old', value: 1 }) }] });
    await producer.disconnect();
    await until('the forwarded rows', async () => (await idsIn('cell-b', 'dp-elsewhere')).length >= 3);
    await sleep(1000);
    expect(await idsIn('cell-b', 'dp-elsewhere')).toEqual(ids);
    expect(await idsIn('cell-a', 'dp-elsewhere')).toEqual([]);
    // The redelivered duplicate is a no-op, not a batch stuck on a key conflict.
    await until('both groups to commit every message', async () => (await consumed('cell-a')) && (await consumed('cell-b')), 30_000);
  });

  it('refuses readings it cannot take with a reason, and an unknown customer with 404', async () => {
    expect(await sendReadings(world.gateway.url, 'nobody-here', [{ id: 1, device: 'd', value: 1 }])).toMatchObject({ status: 404, body: { error: 'UnknownCustomer' } });
    expect(await sendReadings(world.gateway.url, 'dp-1', [{ id: -1, device: 'd', value: 1 }])).toMatchObject({ status: 400, body: { error: 'InvalidReading', message: expect.stringContaining('[0].id') } });
    expect(await sendReadings(world.gateway.url, 'Bad_Id', [{ id: 1, device: 'd', value: 1 }])).toMatchObject({ status: 400, body: { error: 'InvalidCustomerId' } });
  });
});
