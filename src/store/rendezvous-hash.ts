// Weighted rendezvous (highest random weight) hashing for placement: each (customer, cell) pair
// gets a score -weight / ln(u), u uniform in (0,1) from a 64-bit hash; the customer goes to the
// highest score. Adding a cell moves only the customers that the new cell wins; nobody else moves.
//
// The hash is FNV-1a 64 over UTF-8 bytes, finalised with MurmurHash3's fmix64, computed in 32-bit
// halves (BigInt is ~50x slower). It must never change: the same id must score the same forever.

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;

/** A 64-bit value as two unsigned 32-bit halves. */
export interface U64 {
  hi: number;
  lo: number;
}

/** (aHi:aLo) * (bHi:bLo) mod 2^64, written into out; integer operations only. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number, out: U64): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  // high 32 bits of the 64-bit product aLo * bLo
  const carry = ((p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff)) >>> 16;
  const mulhi = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + carry;
  out.lo = Math.imul(aLo, bLo) >>> 0;
  out.hi = (mulhi + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** MurmurHash3 fmix64 finaliser, in place: a bijection with full avalanche. */
function fmix64(k: U64): void {
  k.lo = (k.lo ^ (k.hi >>> 1)) >>> 0;
  mul64(k.hi, k.lo, 0xff51afd7, 0xed558ccd, k);
  k.lo = (k.lo ^ (k.hi >>> 1)) >>> 0;
  mul64(k.hi, k.lo, 0xc4ceb9fe, 0x1a85ec53, k);
  k.lo = (k.lo ^ (k.hi >>> 1)) >>> 0;
}

function utf8Bytes(text: string): ArrayLike<number> | undefined {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return new TextEncoder().encode(text);
  return undefined; // ASCII: charCodeAt is the byte
}

/** FNV-1a 64 of the UTF-8 bytes of `text`, then fmix64. */
export function hash64(text: string): U64 {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  const bytes = utf8Bytes(text);
  const n = bytes ? bytes.length : text.length;
  for (let i = 0; i < n; i++) {
    lo = (lo ^ (bytes ? (bytes[i] as number) : text.charCodeAt(i))) >>> 0;
    // x * 0x100000001b3 = x * 0x1b3 + (x << 40); every intermediate stays below 2^53.
    const loMul = lo * 0x1b3;
    hi = (hi * 0x1b3 + Math.floor(loMul / TWO_32) + ((lo << 8) >>> 0)) >>> 0;
    lo = loMul >>> 0;
  }
  const out = { hi, lo };
  fmix64(out);
  return out;
}

/** The top 53 bits of a 64-bit value mapped into the open interval (0, 1). */
export function toUnitInterval(k: U64): number {
  return (k.hi * 2097152 + (k.lo >>> 11) + 0.5) / TWO_53;
}

const cellHashes = new Map<string, U64>();

function cellHash(cell: string): U64 {
  let h = cellHashes.get(cell);
  if (!h) {
    h = hash64(cell);
    if (cellHashes.size > 10_000) cellHashes.clear(); // a bound, not an expected case
    cellHashes.set(cell, h);
  }
  return h;
}

const scratch: U64 = { hi: 0, lo: 0 };

/** u in (0,1) for one (customer, cell) pair, given the customer's hash64. */
export function pairUnit(customer: U64, cell: string): number {
  const c = cellHash(cell);
  scratch.hi = (customer.hi ^ c.hi) >>> 0;
  scratch.lo = (customer.lo ^ c.lo) >>> 0;
  fmix64(scratch);
  return toUnitInterval(scratch);
}

/** The weighted rendezvous score: higher wins. A weight of 0 never wins. */
export function rendezvousScore(customer: U64, cell: string, weight: number): number {
  if (!(weight > 0)) return -Infinity;
  return -weight / Math.log(pairUnit(customer, cell));
}
