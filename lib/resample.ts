// Band-limited resampling as torchaudio.functional.resample(x, from, to, rolloff, lowpass_filter_width) with its
// default Hann-windowed sinc ("sinc_interp_hann"): rates reduced by their gcd to orig -> new, one kernel row per
// output phase j < new, output n = i*new + j read from input around i*orig, zeros outside the clip, and
// ceil(new * length / orig) samples kept. Implemented from that description, not from torchaudio's code.
//
// torchaudio builds the kernel in the input's dtype (float32); we reproduce those float32 steps with
// Math.fround so the taps match to float32 rounding (sin/cos are evaluated in double, so a tap can differ by an
// ulp). Taps where the clamped sinc argument sits at +-lowpassFilterWidth are sin(pi*width)*cos(pi/2)^2, zero in
// exact arithmetic and ~1e-20 in float32; they are skipped, which keeps co-prime rates (e.g. 44101 Hz) from
// needing torchaudio's dense [new, 2*width + orig] kernel. Sums are accumulated in double (torch: float32 conv).
import { invalid } from './validate';

const f32 = Math.fround;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export interface ResampleOptions {
  /** Cutoff as a fraction of the lower Nyquist rate (torchaudio default 0.99; MusicGen-Melody uses 0.945). */
  rolloff?: number;
  /** Zero crossings of the sinc on each side (torchaudio default 6; MusicGen-Melody uses 24). */
  lowpassFilterWidth?: number;
}

/** Resamples mono float32 audio from `fromRate` to `toRate` (positive integers); returns the input itself if equal. */
export function resample(
  input: Float32Array,
  fromRate: number,
  toRate: number,
  options: ResampleOptions = {},
): Float32Array {
  const rolloff = options.rolloff ?? 0.99;
  const width = options.lowpassFilterWidth ?? 6;
  if (!Number.isInteger(fromRate) || fromRate <= 0) throw invalid('fromRate', 'a positive integer', fromRate);
  if (!Number.isInteger(toRate) || toRate <= 0) throw invalid('toRate', 'a positive integer', toRate);
  if (!(rolloff > 0 && rolloff <= 1)) throw invalid('rolloff', 'a number in (0, 1]', rolloff);
  if (!Number.isInteger(width) || width < 1) throw invalid('lowpassFilterWidth', 'a positive integer', width);
  if (fromRate === toRate) return input;

  const g = gcd(fromRate, toRate);
  const orig = fromRate / g;
  const next = toRate / g;
  const baseFreq = Math.min(orig, next) * rolloff; // double, as torchaudio's Python float
  const reach = Math.ceil((width * orig) / baseFreq); // torchaudio's kernel half-width in input samples
  const base32 = f32(baseFreq);
  const scale32 = f32(baseFreq / orig);
  const pi32 = f32(Math.PI);

  // Per phase j: taps for input offsets first[j] .. first[j] + count[j] - 1 relative to i*orig. torchaudio's
  // offsets run over [-reach, reach + orig); the sinc's support |t| < width is a window around j*orig/next.
  const half = (width * orig) / baseFreq;
  const first = new Int32Array(next);
  const count = new Int32Array(next);
  const rows: Float32Array[] = [];
  for (let j = 0; j < next; j++) {
    const centre = (j * orig) / next;
    const lo = Math.max(-reach, Math.floor(centre - half) - 1);
    const hi = Math.min(reach + orig - 1, Math.ceil(centre + half) + 1);
    const phase = f32(-j / next);
    const taps: number[] = [];
    let start = 0;
    for (let k = lo; k <= hi; k++) {
      let t = f32(f32(phase + f32(k / orig)) * base32);
      if (t <= -width || t >= width) continue; // clamped: zero tap (see above)
      const w = Math.cos(f32(f32(f32(t * pi32) / width) / 2));
      const window = f32(f32(w) * f32(w));
      t = f32(t * pi32);
      const sinc = t === 0 ? 1 : f32(f32(Math.sin(t)) / t);
      if (taps.length === 0) start = k;
      // Kept taps are contiguous: |t| grows monotonically away from the centre.
      taps.push(f32(sinc * f32(window * scale32)));
    }
    first[j] = start;
    count[j] = taps.length;
    rows.push(Float32Array.from(taps));
  }

  const length = input.length;
  const outLength = Math.ceil((next * length) / orig);
  const out = new Float32Array(outLength);
  for (let n = 0; n < outLength; n++) {
    const i = Math.floor(n / next);
    const j = n - i * next;
    const row = rows[j]!;
    const offset = i * orig + first[j]!;
    const from = Math.max(0, -offset);
    const to = Math.min(count[j]!, length - offset);
    let acc = 0;
    for (let k = from; k < to; k++) acc += row[k]! * input[offset + k]!;
    out[n] = acc;
  }
  return out;
}
