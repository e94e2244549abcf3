import { cutBatches } from './move-pool.js';

const keys = (migration: string, ...customers: string[]) => customers.map((customerId) => ({ migration, customerId }));

describe('cutBatches', () => {
  it('cuts consecutive keys of one migration into batches of at most the size, in order', () => {
    expect(cutBatches([...keys('m', 'a', 'b', 'c', 'd', 'e'), ...keys('n', 'f', 'g')], 2)).toEqual([[0, 1], [2, 3], [4], [5, 6]]);
  });

  it('runs a move under way alone and keeps the fresh ones around it in whole batches', () => {
    // Resumed b and e (a batch would hand them back at once) used to share batches with the fresh
    // ones: [a, b, c], [d, e, f], [g], two fresh moves in each batch of three.
    const all = keys('m', 'a', 'b', 'c', 'd', 'e', 'f', 'g');
    const underWay = new Set(['b', 'e']);
    expect(cutBatches(all, 3, (k) => underWay.has(k.customerId))).toEqual([[0, 2, 3], [1], [4], [5, 6]]);
  });
});
