// Streaming, atomic GGUF v3 writer: the header (metadata + tensor infos with precomputed offsets) is written first,
// then each tensor's bytes in order, into `<out>.tmp-<pid>`, renamed onto `out` only when everything succeeded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';

export const GGUF_ALIGNMENT = 32;

const SCALAR_TYPE_IDS = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
const ARRAY_TYPE_ID = 9;

export type ScalarType = keyof typeof SCALAR_TYPE_IDS;

export type MetadataValue =
  | { type: Exclude<ScalarType, 'bool' | 'string' | 'u64' | 'i64'>; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: 'string'; value: readonly string[] }
  | { type: 'array'; itemType: 'bool'; value: readonly boolean[] }
  | { type: 'array'; itemType: Exclude<ScalarType, 'bool' | 'string' | 'u64' | 'i64'>; value: ArrayLike<number> }
  | { type: 'array'; itemType: 'u64' | 'i64'; value: readonly bigint[] };

export interface GgufTensorInfo {
  name: string;
  /** ggml order: ne0 (fastest-varying) first. */
  dims: number[];
  /** ggml_type enum value. */
  ggmlType: number;
  bytes: number;
}

/** Little-endian byte sink that grows as needed. */
class ByteBuilder {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  scalar(type: ScalarType, value: number | bigint | boolean | string): void {
    if (type === 'string') return this.string(value as string);
    const sizes = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 } as const;
    this.reserve(sizes[type]);
    const b = this.buf;
    const at = this.length;
    switch (type) {
      case 'u8':
        b.writeUInt8(value as number, at);
        break;
      case 'i8':
        b.writeInt8(value as number, at);
        break;
      case 'bool':
        b.writeUInt8(value ? 1 : 0, at);
        break;
      case 'u16':
        b.writeUInt16LE(value as number, at);
        break;
      case 'i16':
        b.writeInt16LE(value as number, at);
        break;
      case 'u32':
        b.writeUInt32LE(value as number, at);
        break;
      case 'i32':
        b.writeInt32LE(value as number, at);
        break;
      case 'f32':
        b.writeFloatLE(value as number, at);
        break;
      case 'u64':
        b.writeBigUInt64LE(BigInt(value as number | bigint), at);
        break;
      case 'i64':
        b.writeBigInt64LE(BigInt(value as number | bigint), at);
        break;
      case 'f64':
        b.writeDoubleLE(value as number, at);
        break;
    }
    this.length += sizes[type];
  }

  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.scalar('u64', BigInt(bytes.length));
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }

  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function encodeValue(out: ByteBuilder, value: MetadataValue): void {
  if (value.type !== 'array') {
    out.scalar('u32', SCALAR_TYPE_IDS[value.type]);
    out.scalar(value.type, value.value);
    return;
  }
  out.scalar('u32', ARRAY_TYPE_ID);
  out.scalar('u32', SCALAR_TYPE_IDS[value.itemType]);
  out.scalar('u64', BigInt(value.value.length));
  for (let i = 0; i < value.value.length; i++) out.scalar(value.itemType, value.value[i]!);
}

/** The complete header (magic .. padding before the data section) for these metadata and tensors. */
export function encodeHeader(
  metadata: ReadonlyArray<[string, MetadataValue]>,
  tensors: readonly GgufTensorInfo[],
): Buffer {
  const out = new ByteBuilder();
  out.scalar('u32', 0x46554747); // "GGUF"
  out.scalar('u32', 3);
  out.scalar('u64', BigInt(tensors.length));
  out.scalar('u64', BigInt(metadata.length));
  for (const [key, value] of metadata) {
    out.string(key);
    encodeValue(out, value);
  }
  let offset = 0;
  for (const t of tensors) {
    out.string(t.name);
    out.scalar('u32', t.dims.length);
    for (const d of t.dims) out.scalar('u64', BigInt(d));
    out.scalar('u32', t.ggmlType);
    out.scalar('u64', BigInt(offset));
    offset += alignUp(t.bytes);
  }
  out.pad(GGUF_ALIGNMENT);
  return out.bytes();
}

function alignUp(n: number): number {
  return Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
}

/** Temp files of conversions in progress, so a signal handler can remove them (see removeTempFiles). */
const activeTempFiles = new Set<string>();

/** Deletes every temp file of an unfinished conversion of this process (for SIGINT/SIGTERM handlers). */
export function removeTempFiles(): void {
  for (const file of activeTempFiles) fs.rmSync(file, { force: true });
  activeTempFiles.clear();
}

/**
 * Writes the GGUF file. `produce(i)` returns tensor i's bytes (exactly tensors[i].bytes of them); it is awaited
 * tensor by tensor so only one tensor is in memory at a time and signals can be handled in between.
 * Returns the file size.
 */
export async function writeGguf(
  out: string,
  metadata: ReadonlyArray<[string, MetadataValue]>,
  tensors: readonly GgufTensorInfo[],
  produce: (index: number) => Promise<Uint8Array> | Uint8Array,
): Promise<number> {
  const temp = path.join(path.dirname(path.resolve(out)), `${path.basename(out)}.tmp-${process.pid}`);
  activeTempFiles.add(temp);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'w');
    const header = encodeHeader(metadata, tensors);
    let written = writeAll(fd, header);
    const zeros = Buffer.alloc(GGUF_ALIGNMENT);
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      const data = await produce(i);
      if (data.byteLength !== t.bytes) {
        throw new ConvertError(
          `internal error: tensor '${t.name}' produced ${data.byteLength} bytes, expected ${t.bytes}`,
        );
      }
      written += writeAll(fd, data);
      written += writeAll(fd, zeros.subarray(0, alignUp(t.bytes) - t.bytes));
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, out);
    return written;
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw error;
  } finally {
    activeTempFiles.delete(temp);
  }
}

function writeAll(fd: number, data: Uint8Array): number {
  let done = 0;
  while (done < data.byteLength) done += fs.writeSync(fd, data, done, data.byteLength - done);
  return data.byteLength;
}
