// Format walkers for the seeds: the byte offsets of the integer fields (lengths, counts, offsets, dims, sizes)
// that mutate() hits with interesting values. They read well-formed seeds only and stop quietly at anything odd.
import type { IntField } from './mutate';

/** GGUF v3: header counts, every key/string length, value type, array type/count, tensor dims/type/offset. */
export function ggufFields(buf: Buffer): IntField[] {
  const fields: IntField[] = [];
  let p = 0;
  const field = (width: 1 | 2 | 4 | 8): bigint => {
    if (p + width > buf.length) throw new RangeError('end');
    fields.push({ offset: p, width });
    const v = width === 8 ? buf.readBigUInt64LE(p) : BigInt(buf.readUIntLE(p, width));
    p += width;
    return v;
  };
  const SCALAR: Record<number, 1 | 2 | 4 | 8> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (type: number, record: boolean): void => {
    if (type === 8) {
      const n = Number(record ? field(8) : buf.readBigUInt64LE(p));
      if (!record) p += 8;
      p += n;
    } else if (type === 9) {
      const item = Number(field(4));
      const n = Number(field(8));
      // Long arrays (the vocabulary): record only the first elements' lengths.
      for (let i = 0; i < n; i++) value(item, i < 4);
    } else {
      const width = SCALAR[type];
      if (width === undefined) throw new RangeError('type');
      if (record) field(width);
      else p += width;
    }
  };
  try {
    p = 4;
    field(4); // version
    const tensors = Number(field(8));
    const kvs = Number(field(8));
    for (let i = 0; i < kvs; i++) {
      p += Number(field(8)); // key
      value(Number(field(4)), true);
    }
    for (let i = 0; i < tensors; i++) {
      p += Number(field(8)); // name
      const dims = Number(field(4));
      for (let d = 0; d < dims; d++) field(8);
      field(4); // type
      field(8); // offset
    }
  } catch {
    // partial list for a truncated or odd seed
  }
  return fields;
}

/** WAV: RIFF size, every chunk size, the fmt chunk's fields (extensible ones included). */
export function wavFields(buf: Buffer): IntField[] {
  const fields: IntField[] = [{ offset: 4, width: 4 }];
  for (let p = 12; p + 8 <= buf.length;) {
    const id = buf.toString('latin1', p, p + 4);
    const size = buf.readUInt32LE(p + 4);
    fields.push({ offset: p + 4, width: 4 });
    if (id === 'fmt ') {
      const f = p + 8;
      for (const [o, w] of [
        [0, 2],
        [2, 2],
        [4, 4],
        [8, 4],
        [12, 2],
        [14, 2],
        [16, 2],
        [18, 2],
        [20, 4],
        [24, 4],
      ] as const) {
        if (o + w <= size) fields.push({ offset: f + o, width: w });
      }
    }
    p += 8 + size + (size & 1);
  }
  return fields;
}

/** zip: end-of-central-directory record, central directory entries, local headers. */
export function zipFields(buf: Buffer): IntField[] {
  const fields: IntField[] = [];
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0 && i >= buf.length - 22 - 65535; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return fields;
  for (const [o, w] of [
    [8, 2],
    [10, 2],
    [12, 4],
    [16, 4],
  ] as const) {
    fields.push({ offset: eocd + o, width: w });
  }
  let p = buf.readUInt32LE(eocd + 16);
  const count = buf.readUInt16LE(eocd + 10);
  for (let i = 0; i < count && p + 46 <= buf.length; i++) {
    for (const [o, w] of [
      [10, 2],
      [20, 4],
      [24, 4],
      [28, 2],
      [30, 2],
      [32, 2],
      [42, 4],
    ] as const) {
      fields.push({ offset: p + o, width: w });
    }
    const local = buf.readUInt32LE(p + 42);
    if (local + 30 <= buf.length) {
      for (const [o, w] of [
        [8, 2],
        [18, 4],
        [22, 4],
        [26, 2],
        [28, 2],
      ] as const) {
        fields.push({ offset: local + o, width: w });
      }
    }
    p += 46 + buf.readUInt16LE(p + 28) + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return fields;
}

/** safetensors: the 8-byte header length (the JSON inside is mutated structurally, see targets.ts). */
export function safetensorsFields(): IntField[] {
  return [{ offset: 0, width: 8 }];
}
