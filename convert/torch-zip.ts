// pytorch_model.bin (torch.save zip archive): `<archive>/data.pkl` describes the state dict, `<archive>/data/<key>`
// hold the raw storages. Reads the zip's central directory (zip64 included), then one tensor at a time.
import * as buffer from 'node:buffer';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { ConvertError } from '../lib/errors';
import { loadPickle, stateDictOf, type PickleValue, type TorchTensorRef } from './pickle';
import { elementCount, toFloat32, type SourceTensorInfo, type TensorSource } from './tensor-source';

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const ITEM_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;

export class TorchZipFile implements TensorSource {
  readonly file: string;
  private readonly fd: number;
  private readonly fileSize: number;
  private readonly entries = new Map<string, ZipEntry>();
  private readonly tensors: Map<string, TorchTensorRef>;
  private readonly prefix: string;

  /**
   * `select` picks the state dict out of the unpickled root (default: the root dict itself, as torch.save of a
   * state dict writes it; audiocraft exports nest it under `best_state`).
   */
  constructor(file: string, select: (root: PickleValue, file: string) => Map<string, TorchTensorRef> = stateDictOf) {
    this.file = file;
    this.fd = fs.openSync(file, 'r');
    try {
      this.fileSize = fs.fstatSync(this.fd).size;
      this.readCentralDirectory();
      const pickles = [...this.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pickles.length !== 1) this.fail('is not a torch.save archive (no single <archive>/data.pkl entry)');
      this.prefix = pickles[0]!.slice(0, -'data.pkl'.length);
      this.tensors = select(loadPickle(this.entryBytes(this.entries.get(pickles[0]!)!), file), file);
      for (const [name, t] of this.tensors) this.checkView(name, t);
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  private fail(message: string): never {
    throw new ConvertError(message, this.file);
  }

  private readBytes(position: number, length: number): Buffer {
    if (position < 0 || position + length > this.fileSize)
      this.fail(`zip structure points outside the file (truncated?)`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, position + done);
      if (n === 0) this.fail('unexpected end of file');
      done += n;
    }
    return buf;
  }

  private readCentralDirectory(): void {
    const tailLength = Math.min(this.fileSize, 22 + 65535);
    const tail = this.readBytes(this.fileSize - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('is not a zip archive (no end-of-central-directory record); expected a torch.save file');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    const locator = eocd - 20;
    if (locator >= 0 && tail.readUInt32LE(locator) === 0x07064b50) {
      const z64 = this.readBytes(Number(tail.readBigUInt64LE(locator + 8)), 56);
      if (z64.readUInt32LE(0) !== 0x06064b50) this.fail('has a corrupt zip64 end-of-central-directory record');
      count = Number(z64.readBigUInt64LE(32));
      cdSize = Number(z64.readBigUInt64LE(40));
      cdOffset = Number(z64.readBigUInt64LE(48));
    }
    const cd = this.readBytes(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) this.fail('has a corrupt zip central directory');
      const nameLength = cd.readUInt16LE(p + 28);
      const extraLength = cd.readUInt16LE(p + 30);
      const commentLength = cd.readUInt16LE(p + 32);
      const entry: ZipEntry = {
        name: cd.toString('utf8', p + 46, p + 46 + nameLength),
        method: cd.readUInt16LE(p + 10),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        localHeaderOffset: cd.readUInt32LE(p + 42),
      };
      this.applyZip64(entry, cd.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength));
      this.entries.set(entry.name, entry);
      p += 46 + nameLength + extraLength + commentLength;
    }
  }

  /** Sizes/offsets of 0xFFFFFFFF live in the zip64 extra field (id 1), in this order. */
  private applyZip64(entry: ZipEntry, extra: Buffer): void {
    for (let q = 0; q + 4 <= extra.length;) {
      const id = extra.readUInt16LE(q);
      const length = extra.readUInt16LE(q + 2);
      if (id === 1) {
        let r = q + 4;
        const next = (): number => {
          if (r + 8 > q + 4 + length) this.fail(`has a corrupt zip64 field for '${entry.name}'`);
          r += 8;
          return Number(extra.readBigUInt64LE(r - 8));
        };
        if (entry.size === 0xffffffff) entry.size = next();
        if (entry.compressedSize === 0xffffffff) entry.compressedSize = next();
        if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next();
      }
      q += 4 + length;
    }
  }

  private dataStart(entry: ZipEntry): number {
    const local = this.readBytes(entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) this.fail(`has a corrupt local header for '${entry.name}'`);
    return entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  }

  /** `length` bytes of an entry's uncompressed content from `start`. */
  private entryBytes(entry: ZipEntry, start = 0, length = entry.size): Buffer {
    if (start + length > entry.size) this.fail(`entry '${entry.name}' is shorter than the tensors it holds`);
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size) this.fail(`entry '${entry.name}' has inconsistent sizes`);
      return this.readBytes(this.dataStart(entry) + start, length);
    }
    if (entry.method === 8) {
      const raw = this.inflate(entry);
      if (raw.length !== entry.size)
        this.fail(`entry '${entry.name}' inflates to ${raw.length} bytes, expected ${entry.size}`);
      return raw.subarray(start, start + length);
    }
    this.fail(
      `entry '${entry.name}' uses zip compression method ${entry.method}; only stored and deflate are supported`,
    );
  }

  /** A deflated entry's content; corrupt deflate data and output beyond the declared size are ConvertErrors. */
  private inflate(entry: ZipEntry): Buffer {
    const compressed = this.readBytes(this.dataStart(entry), entry.compressedSize);
    try {
      // One byte more than declared is enough to tell a size mismatch; more would only let a zip bomb expand.
      return zlib.inflateRawSync(compressed, {
        maxOutputLength: Math.min(entry.size + 1, buffer.constants.MAX_LENGTH),
      });
    } catch (error) {
      const reason =
        (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE'
          ? `inflates to more than its declared ${entry.size} bytes`
          : `is not valid deflate data (${(error as Error).message})`;
      this.fail(`entry '${entry.name}' ${reason}`);
    }
  }

  private storageEntry(t: TorchTensorRef): ZipEntry | undefined {
    return this.entries.get(`${this.prefix}data/${t.storage.key}`);
  }

  /** The view must address only elements inside its storage. */
  private checkView(name: string, t: TorchTensorRef): void {
    const entry = this.storageEntry(t);
    if (!entry) this.fail(`tensor '${name}' refers to storage '${t.storage.key}', which is not in the archive`);
    const item = ITEM_BYTES[t.storage.dtype];
    if (t.storage.numel * item > entry.size) {
      this.fail(`storage '${t.storage.key}' holds ${entry.size} bytes, less than its ${t.storage.numel} elements`);
    }
    const last =
      elementCount(t.shape) === 0 ? 0 : t.offset + t.shape.reduce((s, n, i) => s + (n - 1) * t.stride[i]!, 0);
    if (last >= t.storage.numel && elementCount(t.shape) > 0) {
      this.fail(
        `tensor '${name}' (offset ${t.offset}, shape [${t.shape}], stride [${t.stride}]) exceeds its storage of ${t.storage.numel} elements`,
      );
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): SourceTensorInfo | undefined {
    const t = this.tensors.get(name);
    return t && { dtype: t.storage.dtype, shape: t.shape, file: this.file };
  }

  read(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) this.fail(`no tensor '${name}'`);
    const item = ITEM_BYTES[t.storage.dtype];
    const count = elementCount(t.shape);
    if (count === 0) return new Float32Array(0);
    // Read the storage span the view touches, then gather in row-major order unless it already is contiguous.
    const span = t.shape.reduce((s, n, i) => s + (n - 1) * t.stride[i]!, 0) + 1;
    const values = toFloat32(
      this.entryBytes(this.storageEntry(t)!, t.offset * item, span * item),
      t.storage.dtype,
      span,
    );
    if (span === count && isContiguous(t.shape, t.stride)) return values;
    const out = new Float32Array(count);
    const index = new Array<number>(t.shape.length).fill(0);
    for (let i = 0; i < count; i++) {
      let at = 0;
      for (let d = 0; d < index.length; d++) at += index[d]! * t.stride[d]!;
      out[i] = values[at]!;
      for (let d = index.length - 1; d >= 0; d--) {
        if (++index[d]! < t.shape[d]!) break;
        index[d] = 0;
      }
    }
    return out;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
