import * as fs from 'node:fs';
import { PyJson, toPythonJson } from './py-json';

/**
 * Streaming safetensors writer in the layout Hugging Face produces: 8-byte little-endian header length, compact
 * JSON header (`__metadata__` {"format":"pt"} first, tensors in name order, data offsets in that order),
 * space-padded to a multiple of 8 bytes, then the raw little-endian data. Values are produced chunk by chunk,
 * so writing a 13 GB file needs a few MiB of memory.
 */

export type SafetensorsDtype = 'F32' | 'F16';

export interface TensorEntry {
  name: string;
  shape: number[];
  /** Called once, when the tensor is written; returns a filler that yields the next values on each call. */
  values: () => (out: Float32Array) => void;
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, F16: 2 };
// 1 Mi elements per chunk: 4 MiB of float32 (+ 2 MiB of float16), large enough for fast writes.
const CHUNK_ELEMENTS = 1 << 20;

export function tensorBytes(entry: Pick<TensorEntry, 'shape'>, dtype: SafetensorsDtype): number {
  return entry.shape.reduce((n, d) => n * d, 1) * BYTES_PER_ELEMENT[dtype];
}

/** The header block (length prefix + padded JSON) for tensors written in the given order. */
export function safetensorsHeader(entries: readonly Pick<TensorEntry, 'name' | 'shape'>[], dtype: SafetensorsDtype) {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const entry of entries) {
    const end = offset + tensorBytes(entry, dtype);
    header[entry.name] = { dtype, shape: entry.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([prefix, padded]);
}

/** Writes one .safetensors file; entries must already be sorted by name (HF's order). Returns the file size. */
export function writeSafetensors(file: string, entries: readonly TensorEntry[], dtype: SafetensorsDtype): number {
  const header = safetensorsHeader(entries, dtype);
  const chunk = new Float32Array(CHUNK_ELEMENTS);
  const halves = new Uint16Array(CHUNK_ELEMENTS);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, header);
    let written = header.length;
    for (const entry of entries) {
      const fill = entry.values();
      let remaining = entry.shape.reduce((n, d) => n * d, 1);
      while (remaining > 0) {
        const count = Math.min(remaining, CHUNK_ELEMENTS);
        const values = chunk.subarray(0, count);
        fill(values);
        const bytes = dtype === 'F32' ? values : float32ToFloat16(values, halves.subarray(0, count));
        written += writeAll(fd, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        remaining -= count;
      }
    }
    return written;
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): number {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done);
  return done;
}

/**
 * Splits tensors into shards the way huggingface_hub does for save_pretrained(max_shard_size): walk the tensors
 * in order; a tensor larger than the limit gets a shard of its own, otherwise a new shard starts when the
 * tensor would push the current one over the limit. Sizes count tensor bytes only.
 */
export function planShards<T extends Pick<TensorEntry, 'shape'>>(
  entries: readonly T[],
  dtype: SafetensorsDtype,
  maxShardBytes: number,
): T[][] {
  const shards: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    const bytes = tensorBytes(entry, dtype);
    if (bytes > maxShardBytes) {
      shards.push([entry]);
      continue;
    }
    if (currentBytes + bytes > maxShardBytes && current.length > 0) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/** HF's shard file names: model-00001-of-00003.safetensors; a single shard is plain model.safetensors. */
export function shardFileName(index: number, count: number): string {
  if (count === 1) return 'model.safetensors';
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** model.safetensors.index.json as transformers writes it (indent 2, sorted keys). */
export function shardIndexJson(shards: readonly (readonly TensorEntry[])[], dtype: SafetensorsDtype): string {
  const weightMap: Record<string, PyJson> = {};
  let totalSize = 0;
  shards.forEach((shard, index) => {
    for (const entry of shard) {
      weightMap[entry.name] = shardFileName(index, shards.length);
      totalSize += tensorBytes(entry, dtype);
    }
  });
  return toPythonJson({ metadata: { total_size: totalSize }, weight_map: weightMap });
}

/** IEEE binary16 bit patterns of float32 values, rounded to nearest-even like torch's .half(). */
export function float32ToFloat16(values: Float32Array, out: Uint16Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] as number;
    const exponent = (b >>> 23) & 0xff;
    if (exponent > 112 && exponent < 143) {
      // Fast path, normal halves (nearly every weight): round the 13 dropped bits to nearest-even, then rebias
      // the exponent by 127 - 15; a rounding carry moves into the exponent (up to infinity) as it should.
      const rounded = (b & 0x7fffffff) + 0xfff + ((b >>> 13) & 1);
      out[i] = ((b >>> 16) & 0x8000) | ((rounded >>> 13) - (112 << 10));
    } else {
      out[i] = float32BitsToFloat16Bits(b);
    }
  }
  return out;
}

function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half: value = m * 2^-24; shift the 24-bit significand down, rounding to nearest-even.
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShift(significand, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (and yields infinity past the largest half).
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept;
}
