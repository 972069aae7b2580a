/**
 * Deterministic random numbers for random-weight checkpoints: xoshiro128** (32-bit integer ops, fast in V8),
 * seeded per tensor from (global seed, tensor name) so a tensor's values do not depend on which other tensors
 * exist or in which order they are written.
 */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number, name: string) {
    let state = mixSeed(seed, name);
    const next = (): number => {
      state = (state + 0x9e3779b9) | 0;
      return splitmix32(state);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // xoshiro's all-zero state is a fixed point; splitmix32 makes it practically impossible, but be exact.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform in (0, 1): never exactly 0, so it is safe to take its logarithm. */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  /**
   * Standard normal N(0, 1) by Marsaglia & Tsang's ziggurat (128 layers): about 99% of draws cost one table
   * lookup and a multiply, several times faster than Box-Muller, which matters for billions of weights.
   * The layer index comes from its own draw so it is independent of the value's bits.
   */
  normal(): number {
    for (;;) {
      const layer = this.nextUint32() & 127;
      const hz = this.nextUint32() | 0;
      const x = hz * ZIGGURAT.w[layer]!;
      if (Math.abs(hz) < ZIGGURAT.k[layer]!) return x;
      if (layer === 0) return this.normalTail(hz);
      // Wedge between the layer's rectangle and the density: accept with the exact density.
      const f = ZIGGURAT.f[layer]!;
      if (f + this.uniform() * (ZIGGURAT.f[layer - 1]! - f) < Math.exp(-0.5 * x * x)) return x;
    }
  }

  /** A sample beyond the base layer's edge R (Marsaglia's exponential tail method). */
  private normalTail(hz: number): number {
    for (;;) {
      const x = -Math.log(this.uniform()) / ZIGGURAT_R;
      const y = -Math.log(this.uniform());
      if (y + y >= x * x) return hz > 0 ? ZIGGURAT_R + x : -ZIGGURAT_R - x;
    }
  }
}

// Ziggurat constants for 128 layers of the N(0,1) density: the base strip's edge and the layers' common area.
const ZIGGURAT_R = 3.442619855899;
const ZIGGURAT_AREA = 9.91256303526217e-3;

/** Per layer: k = acceptance threshold on |hz|, w = scale from hz to x, f = density at the layer's edge. */
const ZIGGURAT = (() => {
  const scale = 2147483648; // 2^31: hz is a signed 32-bit integer
  const k = new Float64Array(128);
  const w = new Float64Array(128);
  const f = new Float64Array(128);
  let edge = ZIGGURAT_R;
  const q = ZIGGURAT_AREA / Math.exp(-0.5 * edge * edge);
  k[0] = (edge / q) * scale;
  k[1] = 0;
  w[0] = q / scale;
  w[127] = edge / scale;
  f[0] = 1;
  f[127] = Math.exp(-0.5 * edge * edge);
  for (let i = 126; i >= 1; i--) {
    const next = Math.sqrt(-2 * Math.log(ZIGGURAT_AREA / edge + Math.exp(-0.5 * edge * edge)));
    k[i + 1] = (next / edge) * scale;
    edge = next;
    f[i] = Math.exp(-0.5 * edge * edge);
    w[i] = edge / scale;
  }
  return { k, w, f };
})();

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function splitmix32(x: number): number {
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** FNV-1a over the UTF-16 code units of the name, folded with the seed. */
function mixSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ splitmix32(seed | 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}
