import { customerPartition } from './partitioning.js';

describe('the partition of a customer', () => {
  it('is the Java client\'s murmur2 partition of the customer id, the same every time', () => {
    // Checked against kafka-clients 4.1.1: Utils.toPositive(Utils.murmur2(key.getBytes(UTF_8))) % 6.
    const partitions = ['acme', 'cust-1', 'a'].map((c) => customerPartition(c, 6));
    expect(partitions).toEqual([0, 1, 4]);
    expect(customerPartition('acme', 6)).toBe(partitions[0]);
  });

  it('spreads customers over every partition', () => {
    const seen = new Set(Array.from({ length: 200 }, (_, i) => customerPartition(`c-${i}`, 8)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('refuses a topic without partitions', () => {
    expect(() => customerPartition('acme', 0)).toThrow('a topic has at least one partition');
  });
});
