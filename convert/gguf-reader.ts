// A converted GGUF file read back as a conversion input (`--base` for audiocraft checkpoints, LoRA merges onto a
// GGUF): typed metadata that convert/gguf-writer.ts can write again, tensor infos, and each tensor's bytes read on
// demand. The file comes from a user, so every count, length, type and offset is checked before it is used.
import * as fs from 'node:fs';
import { ConvertError } from '../lib/errors';
import type { MetadataValue, ScalarType } from './gguf-writer';
import { GGML_TYPES, type OutputType } from './quant-policy';
import { toFloat32 } from './tensor-source';

export interface GgufTensorEntry {
  name: string;
  /** ggml order: ne0 (fastest-varying) first. */
  dims: number[];
  /** Storage type, one of the types the converter writes. */
  type: OutputType;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  bytes: number;
}

const SCALAR_TYPES: Record<number, ScalarType> = {
  0: 'u8',
  1: 'i8',
  2: 'u16',
  3: 'i16',
  4: 'u32',
  5: 'i32',
  6: 'f32',
  7: 'bool',
  8: 'string',
  10: 'u64',
  11: 'i64',
  12: 'f64',
};
const ARRAY_TYPE = 9;
const SCALAR_BYTES = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 } as const;
const TYPE_BY_ID = new Map(Object.entries(GGML_TYPES).map(([name, t]) => [t.id, name as OutputType]));
// Headers hold the tokenizer (tens of thousands of strings); anything past this is not a file we wrote.
const MAX_HEADER_BYTES = 256 << 20;

/** Reads the header, bounds-checked, through a window over the file grown on demand. */
class HeaderCursor {
  private buf = Buffer.alloc(0);
  pos = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly file: string,
  ) {}

  private need(n: number, what: string): number {
    const end = this.pos + n;
    if (!Number.isSafeInteger(end) || end > this.size)
      throw new ConvertError(`truncated GGUF header (reading ${what} at byte ${this.pos})`, this.file);
    if (end > MAX_HEADER_BYTES) throw new ConvertError(`GGUF header larger than ${MAX_HEADER_BYTES} bytes`, this.file);
    if (end > this.buf.length) {
      const next = Buffer.alloc(Math.min(this.size, MAX_HEADER_BYTES, Math.max(end, this.buf.length * 2, 1 << 20)));
      const have = fs.readSync(this.fd, next, 0, next.length, 0);
      if (have < end) throw new ConvertError(`short read of the GGUF header at byte ${this.pos}`, this.file);
      this.buf = next;
    }
    const at = this.pos;
    this.pos = end;
    return at;
  }

  // need() may replace the buffer: every read takes its offset first.
  u32(what: string): number {
    const at = this.need(4, what);
    return this.buf.readUInt32LE(at);
  }
  u64(what: string): bigint {
    const at = this.need(8, what);
    return this.buf.readBigUInt64LE(at);
  }
  count(what: string, max: number): number {
    const n = this.u64(what);
    if (n > BigInt(max)) throw new ConvertError(`${what} ${n} is out of range (at most ${max})`, this.file);
    return Number(n);
  }
  string(what: string): string {
    const n = this.count(`${what} length`, this.size);
    const at = this.need(n, what);
    return this.buf.toString('utf8', at, this.pos);
  }
  scalar(type: ScalarType, what: string): number | bigint | boolean | string {
    if (type === 'string') return this.string(what);
    const at = this.need(SCALAR_BYTES[type], what);
    const b = this.buf;
    switch (type) {
      case 'u8':
        return b.readUInt8(at);
      case 'i8':
        return b.readInt8(at);
      case 'bool':
        return b.readUInt8(at) !== 0;
      case 'u16':
        return b.readUInt16LE(at);
      case 'i16':
        return b.readInt16LE(at);
      case 'u32':
        return b.readUInt32LE(at);
      case 'i32':
        return b.readInt32LE(at);
      case 'f32':
        return b.readFloatLE(at);
      case 'u64':
        return b.readBigUInt64LE(at);
      case 'i64':
        return b.readBigInt64LE(at);
      case 'f64':
        return b.readDoubleLE(at);
    }
  }
}

export class GgufReader {
  readonly metadata = new Map<string, MetadataValue>();
  readonly tensors = new Map<string, GgufTensorEntry>();
  private fd: number | undefined;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'r');
    } catch (error) {
      throw new ConvertError(`cannot open GGUF file: ${(error as Error).message}`, file, { cause: error });
    }
    try {
      this.parse(fs.fstatSync(this.fd).size);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  private parse(size: number): void {
    const c = new HeaderCursor(this.fd!, size, this.file);
    if (size < 4 || c.u32('magic') !== 0x46554747) throw new ConvertError('not a GGUF file (bad magic)', this.file);
    const version = c.u32('version');
    if (version !== 3) throw new ConvertError(`GGUF version ${version} is not supported (expected 3)`, this.file);
    const tensorCount = c.count('tensor count', 1 << 20);
    const kvCount = c.count('metadata count', 1 << 20);
    for (let i = 0; i < kvCount; i++) {
      const key = c.string('metadata key');
      this.metadata.set(key, this.readValue(c, key));
    }
    const infos: Omit<GgufTensorEntry, 'offset'>[] = [];
    const relative: bigint[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string('tensor name');
      const nDims = c.u32(`tensor '${name}' dimension count`);
      if (nDims < 1 || nDims > 4)
        throw new ConvertError(`tensor '${name}' has ${nDims} dimensions (expected 1 to 4)`, this.file);
      const dims = Array.from({ length: nDims }, () => c.count(`tensor '${name}' dimension`, 2 ** 40));
      const id = c.u32(`tensor '${name}' type`);
      const type = TYPE_BY_ID.get(id);
      if (!type)
        throw new ConvertError(`tensor '${name}' has ggml type ${id}, which the converter does not read`, this.file);
      const { blockSize, blockBytes } = GGML_TYPES[type];
      if (dims[0]! % blockSize !== 0)
        throw new ConvertError(
          `tensor '${name}' row length ${dims[0]} is not a multiple of ${type}'s block ${blockSize}`,
          this.file,
        );
      const elements = dims.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(elements) || elements > size)
        throw new ConvertError(`tensor '${name}' dimensions [${dims.join(', ')}] are out of range`, this.file);
      if (this.tensors.has(name) || infos.some((t) => t.name === name))
        throw new ConvertError(`tensor '${name}' appears twice`, this.file);
      infos.push({ name, dims, type, bytes: (elements / blockSize) * blockBytes });
      relative.push(c.u64(`tensor '${name}' offset`));
    }
    const alignment = this.metadata.get('general.alignment');
    const align = alignment?.type === 'u32' ? alignment.value : 32;
    if (!(align > 0 && (align & (align - 1)) === 0))
      throw new ConvertError(`general.alignment ${align} is not a power of two`, this.file);
    const dataStart = Math.ceil(c.pos / align) * align;
    infos.forEach((info, i) => {
      const offset = dataStart + Number(relative[i]!);
      if (relative[i]! > BigInt(size) || offset + info.bytes > size)
        throw new ConvertError(`tensor '${info.name}' data lies past the end of the file (${size} bytes)`, this.file);
      this.tensors.set(info.name, { ...info, offset });
    });
  }

  private readValue(c: HeaderCursor, key: string): MetadataValue {
    const id = c.u32(`type of '${key}'`);
    if (id === ARRAY_TYPE) {
      const itemId = c.u32(`item type of '${key}'`);
      const itemType = SCALAR_TYPES[itemId];
      if (!itemType) throw new ConvertError(`metadata '${key}' has unknown array item type ${itemId}`, this.file);
      const n = c.count(`length of '${key}'`, 1 << 26);
      const items = Array.from({ length: n }, () => c.scalar(itemType, key));
      return { type: 'array', itemType, value: items } as MetadataValue;
    }
    const type = SCALAR_TYPES[id];
    if (!type) throw new ConvertError(`metadata '${key}' has unknown value type ${id}`, this.file);
    return { type, value: c.scalar(type, key) } as MetadataValue;
  }

  /** A tensor's stored bytes, as written. */
  readRaw(name: string): Uint8Array {
    const t = this.tensors.get(name);
    if (!t) throw new ConvertError(`no tensor '${name}'`, this.file);
    const out = new Uint8Array(t.bytes);
    if (fs.readSync(this.fd!, out, 0, t.bytes, t.offset) !== t.bytes)
      throw new ConvertError(`short read of tensor '${name}'`, this.file);
    return out;
  }

  /** A tensor as float32; only f32 and f16 tensors hold the exact weights a merge or re-encode needs. */
  readFloat32(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new ConvertError(`no tensor '${name}'`, this.file);
    if (t.type === 'f32' || t.type === 'f16') {
      const count = t.bytes / (t.type === 'f32' ? 4 : 2);
      return toFloat32(this.readRaw(name), t.type === 'f32' ? 'F32' : 'F16', count);
    }
    throw new ConvertError(
      `tensor '${name}' is stored as ${t.type}; only f32 or f16 tensors can be read back exactly (convert from the checkpoint, or from an f16/f32 GGUF)`,
      this.file,
    );
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
