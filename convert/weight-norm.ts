// Folds torch weight norm into a plain weight: W[i] = g[i] * v[i] / ||v[i]|| for each index i of dim 0 (the output
// channel of a Conv1d [out, in, k], the input channel of a ConvTranspose1d [in, out, k]).
import { ConvertError } from '../lib/errors';

export function foldWeightNorm(g: Float32Array, v: Float32Array, shape: readonly number[], name: string): Float32Array {
  const channels = shape[0]!;
  const per = v.length / channels;
  const out = new Float32Array(v.length);
  for (let c = 0; c < channels; c++) {
    // Accumulate in float64: the result is rounded to float32 once.
    let sum = 0;
    for (let j = 0; j < per; j++) sum += v[c * per + j]! ** 2;
    if (sum === 0) throw new ConvertError(`weight norm of '${name}' is zero for channel ${c}; cannot fold it`);
    const scale = g[c]! / Math.sqrt(sum);
    for (let j = 0; j < per; j++) out[c * per + j] = v[c * per + j]! * scale;
  }
  return out;
}
