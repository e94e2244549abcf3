import { hash64, pairUnit, rendezvousScore } from './rendezvous-hash.js';

const MASK = (1n << 64n) - 1n;
function fmix64(h: bigint): bigint {
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK;
  return h ^ (h >> 33n);
}
/** The reference: FNV-1a 64 over UTF-8, then fmix64, in BigInt. */
function reference(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK;
  return fmix64(h);
}
const asBig = (h: { hi: number; lo: number }): bigint => (BigInt(h.hi) << 32n) | BigInt(h.lo);

describe('the placement hash', () => {
  it('never changes: these values are placements already made', () => {
    expect(asBig(hash64('')).toString(16)).toBe('efd01f60ba992926');
    expect(asBig(hash64('acme')).toString(16)).toBe('3a25b6656ba9cfc6');
    expect(asBig(hash64('cust-0000001')).toString(16)).toBe('ba597fb5b833d188');
    expect(pairUnit(hash64('acme'), 'eu-west-1a')).toBe(0.3550570983767963);
  });

  it('equals FNV-1a 64 with the fmix64 finaliser, computed with BigInt, for ASCII and other text', () => {
    for (let i = 0; i < 2000; i++) {
      const text = `c-${i}-${(i * 2654435761) % 1000003}${i % 5 === 0 ? '-é✓' : ''}`;
      expect(asBig(hash64(text))).toBe(reference(text));
      const u = pairUnit(hash64(text), 'cell-7');
      expect(u).toBe((Number(fmix64(reference(text) ^ reference('cell-7')) >> 11n) + 0.5) / 2 ** 53);
      expect(u).toBeGreaterThan(0);
      expect(u).toBeLessThan(1);
    }
  });

  it('scores a weight of 0 below everything and a heavier weight higher for the same draw', () => {
    const h = hash64('acme');
    expect(rendezvousScore(h, 'a', 0)).toBe(-Infinity);
    expect(rendezvousScore(h, 'a', 200)).toBeCloseTo(2 * rendezvousScore(h, 'a', 100));
  });
});
