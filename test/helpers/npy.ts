// Minimal reader for the fixtures' .npy goldens (format 1.0/2.0, little-endian, C order).
import * as fs from 'node:fs';

export interface NpyArray {
  shape: number[];
  dtype: '<f4' | '<i8' | '<f8' | '<i4';
  /** float32/float64 data as Float64Array-compatible numbers; int64 as plain numbers (exact below 2^53). */
  data: Float32Array | Float64Array | Int32Array | number[];
}

export function readNpy(file: string): NpyArray {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (fortran) throw new Error(`${file}: Fortran-order arrays are not supported`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLen;
  const bytes = buf.subarray(start);
  const copy = (n: number) => {
    const out = new Uint8Array(n);
    out.set(bytes.subarray(0, n));
    return out.buffer;
  };
  switch (descr) {
    case '<f4':
      return { shape, dtype: descr, data: new Float32Array(copy(count * 4)) };
    case '<f8':
      return { shape, dtype: descr, data: new Float64Array(copy(count * 8)) };
    case '<i4':
      return { shape, dtype: descr, data: new Int32Array(copy(count * 4)) };
    case '<i8': {
      const view = new DataView(copy(count * 8));
      const data: number[] = new Array<number>(count);
      for (let i = 0; i < count; i++) data[i] = Number(view.getBigInt64(i * 8, true));
      return { shape, dtype: descr, data };
    }
    default:
      throw new Error(`${file}: unsupported dtype ${descr}`);
  }
}

/** Largest absolute element-wise difference; throws when the lengths differ. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}
