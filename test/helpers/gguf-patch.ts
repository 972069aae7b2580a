// Rewrites a GGUF file with targeted damage for loader tests: metadata entries are kept as raw bytes
// (so untouched values round-trip exactly), tensors can be dropped, reshaped or retyped, and the data
// section is laid out again with GGUF's 32-byte alignment so only the intended problem remains.
import * as fs from 'node:fs';

const ALIGNMENT = 32;
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export interface PatchTensor {
  name: string;
  dims: number[];
  type: number;
  data: Buffer;
}

export interface PatchableGguf {
  version: number;
  /** Key -> the raw bytes of its type tag and value. */
  metadata: Map<string, Buffer>;
  tensors: PatchTensor[];
}

export function readForPatch(file: string): PatchableGguf {
  const buf = fs.readFileSync(file);
  let p = 0;
  const u32 = () => ((p += 4), buf.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), Number(buf.readBigUInt64LE(p - 8)));
  const str = () => {
    const n = u64();
    p += n;
    return buf.toString('utf8', p - n, p);
  };
  const skipValue = (type: number): void => {
    if (type === 8) {
      const n = u64(); // read before adding: `p += u64()` would use p from before the length
      p += n;
    } else if (type === 9) {
      const itemType = u32();
      const n = u64();
      for (let i = 0; i < n; i++) skipValue(itemType);
    } else {
      const size = SCALAR_BYTES[type];
      if (size === undefined) throw new Error(`${file}: unknown GGUF value type ${type}`);
      p += size;
    }
  };
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${file}: not a GGUF file`);
  p = 4;
  const version = u32();
  const tensorCount = u64();
  const kvCount = u64();
  const metadata = new Map<string, Buffer>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    const start = p;
    skipValue(u32());
    metadata.set(key, buf.subarray(start, p));
  }
  const infos: Array<{ name: string; dims: number[]; type: number; offset: number }> = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = str();
    const dims = Array.from({ length: u32() }, () => u64());
    infos.push({ name, dims, type: u32(), offset: u64() });
  }
  const dataOffset = Math.ceil(p / ALIGNMENT) * ALIGNMENT;
  const ends = infos.map((t, i) => (i + 1 < infos.length ? infos[i + 1]!.offset : buf.length - dataOffset));
  const tensors = infos.map((t, i) => ({
    name: t.name,
    dims: t.dims,
    type: t.type,
    data: buf.subarray(dataOffset + t.offset, dataOffset + ends[i]!),
  }));
  return { version, metadata, tensors };
}

/** The raw type tag + value of a string metadata entry. */
export function stringValue(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.alloc(12);
  out.writeUInt32LE(8, 0);
  out.writeBigUInt64LE(BigInt(bytes.length), 4);
  return Buffer.concat([out, bytes]);
}

/** The raw type tag + value of a u32 metadata entry. */
export function u32Value(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32LE(4, 0);
  out.writeUInt32LE(value, 4);
  return out;
}

export function writePatched(file: string, gguf: PatchableGguf): void {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    parts.push(b);
  };
  const str = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    u64(bytes.length);
    parts.push(bytes);
  };
  parts.push(Buffer.from('GGUF', 'latin1'));
  u32(gguf.version);
  u64(gguf.tensors.length);
  u64(gguf.metadata.size);
  for (const [key, raw] of gguf.metadata) {
    str(key);
    parts.push(raw);
  }
  const padded = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;
  let offset = 0;
  for (const t of gguf.tensors) {
    str(t.name);
    u32(t.dims.length);
    t.dims.forEach(u64);
    u32(t.type);
    u64(offset);
    offset += padded(t.data.length);
  }
  const header = Buffer.concat(parts);
  const data = Buffer.alloc(padded(header.length) - header.length + offset);
  let at = padded(header.length) - header.length;
  for (const t of gguf.tensors) {
    t.data.copy(data, at);
    at += padded(t.data.length);
  }
  fs.writeFileSync(file, Buffer.concat([header, data]));
}
