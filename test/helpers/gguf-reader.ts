// Small GGUF v3 reader for tests: metadata, tensor infos and each tensor's raw bytes. Independent of the
// converter's writer on purpose, so the two check each other.
import * as fs from 'node:fs';

export interface GgufTensor {
  name: string;
  /** ggml order (ne0 first). */
  dims: number[];
  type: number;
  /** Relative to the data section. */
  offset: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, unknown>;
  tensors: GgufTensor[];
  dataOffset: number;
  buffer: Buffer;
}

export const GGML_TYPE = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_k: 12 } as const;

const TYPE_LAYOUT: Record<number, { block: number; bytes: number }> = {
  0: { block: 1, bytes: 4 },
  1: { block: 1, bytes: 2 },
  2: { block: 32, bytes: 18 },
  8: { block: 32, bytes: 34 },
  12: { block: 256, bytes: 144 },
};

export function readGguf(file: string): GgufFile {
  const buffer = fs.readFileSync(file);
  let p = 0;
  const u32 = () => ((p += 4), buffer.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), Number(buffer.readBigUInt64LE(p - 8)));
  const str = () => {
    const n = u64();
    p += n;
    return buffer.toString('utf8', p - n, p);
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 0:
        return buffer.readUInt8((p += 1) - 1);
      case 1:
        return buffer.readInt8((p += 1) - 1);
      case 2:
        return buffer.readUInt16LE((p += 2) - 2);
      case 3:
        return buffer.readInt16LE((p += 2) - 2);
      case 4:
        return u32();
      case 5:
        return buffer.readInt32LE((p += 4) - 4);
      case 6:
        return buffer.readFloatLE((p += 4) - 4);
      case 7:
        return buffer.readUInt8((p += 1) - 1) !== 0;
      case 8:
        return str();
      case 9: {
        const itemType = u32();
        const n = u64();
        return Array.from({ length: n }, () => value(itemType));
      }
      case 10:
        return buffer.readBigUInt64LE((p += 8) - 8);
      case 11:
        return buffer.readBigInt64LE((p += 8) - 8);
      case 12:
        return buffer.readDoubleLE((p += 8) - 8);
      default:
        throw new Error(`${file}: unknown GGUF value type ${type} at byte ${p}`);
    }
  };
  if (buffer.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${file}: not a GGUF file`);
  p = 4;
  const version = u32();
  const tensorCount = u64();
  const kvCount = u64();
  const metadata = new Map<string, unknown>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    metadata.set(key, value(u32()));
  }
  const tensors: GgufTensor[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = str();
    const nDims = u32();
    const dims = Array.from({ length: nDims }, () => u64());
    tensors.push({ name, dims, type: u32(), offset: u64() });
  }
  const alignment = (metadata.get('general.alignment') as number | undefined) ?? 32;
  const dataOffset = Math.ceil(p / alignment) * alignment;
  return { version, metadata, tensors, dataOffset, buffer };
}

export function tensorByteSize(t: GgufTensor): number {
  const layout = TYPE_LAYOUT[t.type];
  if (!layout) throw new Error(`tensor ${t.name}: unknown ggml type ${t.type}`);
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return rows * (t.dims[0]! / layout.block) * layout.bytes;
}

export function tensorBytes(f: GgufFile, name: string): Buffer {
  const t = f.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor '${name}'`);
  const start = f.dataOffset + t.offset;
  return f.buffer.subarray(start, start + tensorByteSize(t));
}

export function tensorF32(f: GgufFile, name: string): Float32Array {
  const bytes = Buffer.from(tensorBytes(f, name));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}
