// The one interface every weight container (safetensors, sharded safetensors, torch zip) offers the converter:
// headers up front, then one tensor at a time as float32.
import { ConvertError } from '../lib/errors';

/** Floating dtypes the converter can read; other dtypes are accepted in a file only if no needed tensor uses them. */
export type FloatDType = 'F32' | 'F16' | 'BF16';

export interface SourceTensorInfo {
  /** Data type as the container names it (safetensors spelling: F32, F16, BF16, I64, ...). */
  dtype: string;
  /** PyTorch order, outermost dimension first. */
  shape: number[];
  /** File holding the bytes, for error messages. */
  file: string;
}

export interface TensorSource {
  /** The weights file (or index file) this source was opened from. */
  readonly file: string;
  names(): string[];
  info(name: string): SourceTensorInfo | undefined;
  /** Reads one tensor and converts it to float32; ConvertError when its dtype is not F32/F16/BF16. */
  read(name: string): Float32Array;
  close(): void;
}

export function isFloatDType(dtype: string): dtype is FloatDType {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Converts little-endian F32/F16/BF16 bytes to float32 exactly (every f16/bf16 value is representable in f32). */
export function toFloat32(bytes: Uint8Array, dtype: FloatDType, count: number): Float32Array {
  const out = new Float32Array(count);
  // Typed-array views read the file's little-endian values directly where the machine is little-endian and the
  // bytes are aligned (always for safetensors' 8-byte aligned data; a DataView otherwise): a per-element DataView
  // read and f16 decode took most of a conversion's time (33 of 40 s for musicgen-small).
  const size = dtype === 'F32' ? 4 : 2;
  const direct = LITTLE_ENDIAN && bytes.byteOffset % size === 0;
  if (dtype === 'F32') {
    if (direct) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    }
    return out;
  }
  const halves = direct ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : readUint16(bytes, count);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = halves[i]! << 16;
  } else {
    const table = halfTable();
    for (let i = 0; i < count; i++) out[i] = table[halves[i]!]!;
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readUint16(bytes: Uint8Array, count: number): Uint16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
  return out;
}

let halfValues: Float32Array | undefined;
/** Every f16 bit pattern's float32 value (256 KiB, built on first use). */
function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfValues[h] = halfToFloat(h);
  }
  return halfValues;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function requireFloatDType(name: string, info: SourceTensorInfo): FloatDType {
  if (!isFloatDType(info.dtype)) {
    throw new ConvertError(
      `tensor '${name}' has dtype ${info.dtype}; only F32, F16 and BF16 weights can be converted`,
      info.file,
    );
  }
  return info.dtype;
}
