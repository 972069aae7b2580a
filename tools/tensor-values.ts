import { Init, TensorSpec } from './checkpoint-layout';
import { Prng } from './prng';

/**
 * Produces a tensor's values in row-major order, a chunk at a time: each call fills `out` with the next
 * out.length values. Chunking never changes the values, so memory stays bounded however large the tensor is.
 */
export type ValueSource = (out: Float32Array) => void;

export function valueSource(tensor: TensorSpec, seed: number): ValueSource {
  return sourceFor(tensor.name, tensor.shape, tensor.init, seed);
}

function sourceFor(name: string, shape: number[], init: Init, seed: number): ValueSource {
  switch (init.kind) {
    case 'normal': {
      const rng = new Prng(seed, name);
      const { mean, std } = init;
      return (out) => {
        for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
      };
    }
    case 'uniform': {
      const rng = new Prng(seed, name);
      const { low, high } = init;
      return (out) => {
        for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * rng.uniform();
      };
    }
    case 'constant':
      return (out) => out.fill(init.value);
    case 'sinusoidal':
      return sinusoidalSource(shape);
    case 'embed-avg':
      return embedAvgSource(init.embed, init.clusterSize, seed);
  }
}

/**
 * MusicgenSinusoidalPositionalEmbedding evaluated the way HF does, in float32 (docs/reference-notes.md §5):
 * f_i = exp(i * -(ln 10000 / (half - 1))), row p = [cos(p f_i)..., sin(p f_i)...], a zero column if odd.
 * Math.fround after each step reproduces torch's float32 rounding (up to libm's last-bit differences).
 */
function sinusoidalSource(shape: number[]): ValueSource {
  const width = shape[1] ?? 0;
  const half = Math.floor(width / 2);
  const step = Math.fround(-Math.log(10000) / (half - 1));
  const frequencies = Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(i * step))));
  let index = 0;
  return (out) => {
    for (let i = 0; i < out.length; i++, index++) {
      const position = Math.floor(index / width);
      const column = index % width;
      const frequency = frequencies[column % half] ?? 0;
      const angle = Math.fround(position * frequency);
      out[i] = column >= 2 * half ? 0 : column < half ? Math.cos(angle) : Math.sin(angle);
    }
  };
}

/** embed_avg = embed * cluster_size[:, None] in float32, regenerating both tensors' streams alongside. */
function embedAvgSource(embed: TensorSpec, clusterSize: TensorSpec, seed: number): ValueSource {
  const rowLength = embed.shape[1] ?? 1;
  const embedValues = valueSource(embed, seed);
  const clusterValues = valueSource(clusterSize, seed);
  const cluster = new Float32Array(1);
  let embedChunk = new Float32Array(0);
  let index = 0;
  return (out) => {
    if (embedChunk.length !== out.length) embedChunk = new Float32Array(out.length);
    embedValues(embedChunk);
    for (let i = 0; i < out.length; i++, index++) {
      if (index % rowLength === 0) clusterValues(cluster);
      out[i] = (embedChunk[i] as number) * (cluster[0] as number);
    }
  };
}
