// Mutation engine of the TypeScript fuzzers: a seeded PRNG (input i of a run is a pure function of the run seed
// and i, so any input can be regenerated), byte-level mutations (bit flips, byte insert/delete/duplicate,
// truncation, splicing of two seeds, dictionary tokens) and "interesting integers" (0, -1, 2^31, 2^32, 2^63...)
// written over the integer fields a seed's format walker found (header lengths, counts, offsets, dims).

/** An integer field of a seed file: where it is and how wide (little-endian). */
export interface IntField {
  offset: number;
  width: 1 | 2 | 4 | 8;
}

export interface Seed {
  name: string;
  bytes: Buffer;
  /** Integer fields worth hitting with interesting values; empty when the format has no walker. */
  fields: IntField[];
}

/** sfc32: small, fast, good enough for fuzzing; seeded from two 32-bit words through splitmix32. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    let s = (seed ^ Math.imul(stream, 0x9e3779b1)) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
    for (let i = 0; i < 8; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Small numbers more often than large ones: [0, n). */
  skewed(n: number): number {
    return Math.min(n - 1, Math.floor(n ** (this.u32() / 4294967296)) - 1);
  }
}

/** Interesting values, as unsigned 64-bit two's complement (so -1 is 2^64 - 1 at any width). */
const INTERESTING: readonly bigint[] = [
  0n,
  1n,
  2n,
  3n,
  4n,
  7n,
  8n,
  16n,
  31n,
  32n,
  63n,
  64n,
  100n,
  127n,
  128n,
  255n,
  256n,
  512n,
  1000n,
  1024n,
  4096n,
  32767n,
  32768n,
  65535n,
  65536n,
  (1n << 24n) - 1n,
  1n << 24n,
  (1n << 31n) - 1n,
  1n << 31n,
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n, // -1
  (1n << 64n) - 2n, // -2
  (1n << 64n) - 128n,
  (1n << 64n) - (1n << 31n),
];

function writeInt(out: Buffer, offset: number, width: number, value: bigint): void {
  for (let i = 0; i < width && offset + i < out.length; i++) {
    out[offset + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
}

function readInt(buf: Buffer, offset: number, width: number): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[offset + i] ?? 0);
  return v;
}

export interface MutateOptions {
  /** Format tokens (magic numbers, opcodes, field keys) to insert or overwrite with. */
  dictionary?: readonly Buffer[];
  /** Bytes at the start where formats keep their headers: flips land there more often. */
  headerBytes?: number;
  /** Inputs never grow beyond this. */
  maxBytes?: number;
}

/** One mutated input derived from `seeds` (1 to 8 stacked mutations). */
export function mutate(rng: Rng, seeds: readonly Seed[], options: MutateOptions = {}): Buffer {
  const seed = rng.pick(seeds);
  let buf = Buffer.from(seed.bytes);
  const maxBytes = options.maxBytes ?? Math.max(1 << 20, seed.bytes.length * 2);
  const header = Math.min(buf.length, options.headerBytes ?? 4096);
  const dictionary = options.dictionary ?? [];
  const offset = (): number => (rng.chance(0.6) && header > 0 ? rng.int(header) : rng.int(Math.max(1, buf.length)));
  const count = 1 + rng.skewed(8);
  for (let m = 0; m < count; m++) {
    const op = rng.int(12);
    if (buf.length === 0 && op !== 5 && op !== 9) continue;
    switch (op) {
      case 0: // flip one bit
      case 1: {
        const at = offset();
        buf[at] = buf[at]! ^ (1 << rng.int(8));
        break;
      }
      case 2: // random byte
        buf[offset()] = rng.int(256);
        break;
      case 3: // interesting integer over a known field (or anywhere, at a random width)
      case 4: {
        const field: IntField =
          seed.fields.length > 0 && rng.chance(0.85)
            ? rng.pick(seed.fields)
            : { offset: offset(), width: rng.pick([1, 2, 4, 8] as const) };
        if (field.offset >= buf.length) break;
        if (rng.chance(0.3)) {
          // small arithmetic on the current value: off-by-one lengths and counts
          const delta = BigInt(rng.int(33) - 16);
          writeInt(buf, field.offset, field.width, readInt(buf, field.offset, field.width) + delta);
        } else {
          writeInt(buf, field.offset, field.width, rng.pick(INTERESTING));
        }
        break;
      }
      case 5: {
        // insert random or repeated bytes
        const at = rng.int(buf.length + 1);
        const n = 1 + rng.skewed(rng.chance(0.9) ? 64 : 4096);
        const fill = rng.chance(0.5) ? Buffer.alloc(n, rng.int(256)) : Buffer.from(randomBytes(rng, n));
        buf = Buffer.concat([buf.subarray(0, at), fill, buf.subarray(at)]);
        break;
      }
      case 6: {
        // delete a range
        const at = offset();
        const n = 1 + rng.skewed(Math.min(4096, buf.length - at));
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + n)]);
        break;
      }
      case 7: {
        // duplicate a range in place or copy it elsewhere
        const from = rng.int(buf.length);
        const n = 1 + rng.skewed(Math.min(1024, buf.length - from));
        const chunk = Buffer.from(buf.subarray(from, from + n));
        const to = rng.int(buf.length + 1);
        buf = rng.chance(0.5)
          ? Buffer.concat([buf.subarray(0, to), chunk, buf.subarray(to)])
          : (chunk.copy(buf, Math.min(to, buf.length - 1)), buf);
        break;
      }
      case 8: // truncate (mostly inside the header: half-written downloads)
        buf = buf.subarray(0, rng.chance(0.5) ? rng.int(header + 1) : rng.int(buf.length + 1));
        break;
      case 9: {
        // splice: head of this input, tail of another seed
        const other = rng.pick(seeds).bytes;
        const at = rng.int(buf.length + 1);
        buf = Buffer.concat([buf.subarray(0, at), other.subarray(rng.int(other.length + 1))]);
        break;
      }
      case 10:
      case 11: {
        // dictionary token, inserted or written over
        if (dictionary.length === 0) {
          buf[offset()] = rng.pick([0x00, 0xff, 0x7f, 0x80]);
          break;
        }
        const token = rng.pick(dictionary);
        const at = offset();
        buf = rng.chance(0.5)
          ? Buffer.concat([buf.subarray(0, at), token, buf.subarray(at)])
          : (token.copy(buf, at), buf);
        break;
      }
    }
    if (buf.length > maxBytes) buf = buf.subarray(0, maxBytes);
  }
  return buf;
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}
