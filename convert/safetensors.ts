// safetensors reader (single file and sharded via model.safetensors.index.json). Only the JSON header is read
// eagerly and validated in full; tensor bytes are read one tensor at a time with positioned reads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import { elementCount, requireFloatDType, toFloat32, type SourceTensorInfo, type TensorSource } from './tensor-source';

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** The safetensors format caps the header at 100 MB; anything larger is corrupt, not a big model. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

interface Entry extends SourceTensorInfo {
  begin: number;
  end: number;
}

export class SafetensorsFile implements TensorSource {
  readonly file: string;
  private readonly fd: number;
  private readonly dataStart: number;
  private readonly entries = new Map<string, Entry>();

  constructor(file: string) {
    this.file = file;
    this.fd = fs.openSync(file, 'r');
    try {
      this.dataStart = this.parseHeader();
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  private fail(message: string): never {
    throw new ConvertError(message, this.file);
  }

  private parseHeader(): number {
    const size = fs.fstatSync(this.fd).size;
    if (size < 8) this.fail(`file is truncated: ${size} bytes, too short for the 8-byte header length`);
    const lengthBytes = Buffer.alloc(8);
    fs.readSync(this.fd, lengthBytes, 0, 8, 0);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(size - 8)) {
      this.fail(
        `header length ${headerLength} exceeds the file size (${size} bytes): file truncated or not safetensors`,
      );
    }
    if (headerLength > BigInt(MAX_HEADER_BYTES)) this.fail(`header length ${headerLength} exceeds the 100 MB limit`);
    const headerBytes = Buffer.alloc(Number(headerLength));
    fs.readSync(this.fd, headerBytes, 0, headerBytes.length, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch (error) {
      this.fail(`header is not valid JSON (${(error as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
      this.fail('header is not a JSON object');
    const dataStart = 8 + headerBytes.length;
    const dataBytes = size - dataStart;
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      this.entries.set(name, this.parseEntry(name, raw, dataBytes));
    }
    // Sorted by start, a span overlaps an earlier one exactly when it starts before the furthest end seen so far.
    const spans = [...this.entries.entries()]
      .filter(([, e]) => e.end > e.begin)
      .sort((a, b) => a[1].begin - b[1].begin);
    let furthest: [string, Entry] | undefined;
    for (const span of spans) {
      const [name, cur] = span;
      if (furthest && cur.begin < furthest[1].end) {
        const [otherName, other] = furthest;
        this.fail(
          `tensors '${otherName}' [${other.begin}, ${other.end}) and '${name}' [${cur.begin}, ${cur.end}) overlap`,
        );
      }
      if (!furthest || cur.end > furthest[1].end) furthest = span;
    }
    return dataStart;
  }

  private parseEntry(name: string, raw: unknown, dataBytes: number): Entry {
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof raw !== 'object' || raw === null) this.fail(`tensor '${name}': header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') this.fail(`tensor '${name}': missing dtype`);
    const itemBytes = DTYPE_BYTES[dtype];
    if (itemBytes === undefined) this.fail(`tensor '${name}' has unknown dtype '${dtype}'`);
    const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!Array.isArray(shape) || !shape.every(isCount)) this.fail(`tensor '${name}': shape is not a list of sizes`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      this.fail(`tensor '${name}': data_offsets is not a pair of byte offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataBytes) {
      this.fail(
        `tensor '${name}' data_offsets [${begin}, ${end}] lie outside the data section (${dataBytes} bytes): file truncated or corrupt`,
      );
    }
    const expected = elementCount(shape) * itemBytes;
    if (end - begin !== expected) {
      this.fail(
        `tensor '${name}' spans ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`,
      );
    }
    return { dtype, shape: shape as number[], file: this.file, begin, end };
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  info(name: string): SourceTensorInfo | undefined {
    return this.entries.get(name);
  }

  read(name: string): Float32Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`no tensor '${name}'`);
    const dtype = requireFloatDType(name, entry);
    const bytes = Buffer.alloc(entry.end - entry.begin);
    let done = 0;
    while (done < bytes.length) {
      const n = fs.readSync(this.fd, bytes, done, bytes.length - done, this.dataStart + entry.begin + done);
      if (n === 0) this.fail(`unexpected end of file while reading tensor '${name}'`);
      done += n;
    }
    return toFloat32(bytes, dtype, elementCount(entry.shape));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** model.safetensors.index.json: `weight_map` names the shard of every tensor; shards are opened up front. */
export class ShardedSafetensors implements TensorSource {
  readonly file: string;
  private readonly shards = new Map<string, SafetensorsFile>();
  private readonly owner = new Map<string, SafetensorsFile>();

  constructor(indexFile: string) {
    this.file = indexFile;
    let index: { weight_map?: unknown };
    try {
      index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: unknown };
    } catch (error) {
      throw new ConvertError(`cannot read the shard index (${(error as Error).message})`, indexFile);
    }
    const map = index.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) {
      throw new ConvertError('no "weight_map" object', indexFile);
    }
    try {
      for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
        if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
          throw new ConvertError(`weight_map entry for '${name}' is not a shard file name`, indexFile);
        }
        let file = this.shards.get(shard);
        if (!file) {
          const shardPath = path.join(path.dirname(indexFile), shard);
          if (!fs.existsSync(shardPath)) throw new ConvertError(`shard '${shard}' does not exist`, indexFile);
          file = new SafetensorsFile(shardPath);
          this.shards.set(shard, file);
        }
        if (!file.info(name))
          throw new ConvertError(`tensor '${name}' listed in the index is not in the shard`, file.file);
        this.owner.set(name, file);
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  info(name: string): SourceTensorInfo | undefined {
    return this.owner.get(name)?.info(name);
  }

  read(name: string): Float32Array {
    const shard = this.owner.get(name);
    if (!shard) throw new ConvertError(`no tensor '${name}'`, this.file);
    return shard.read(name);
  }

  close(): void {
    for (const shard of this.shards.values()) shard.close();
    this.shards.clear();
  }
}
