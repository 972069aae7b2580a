// Test-side safetensors reading/writing, written independently of convert/safetensors.ts, for building
// modified checkpoints (rounded, reshaped, corrupted) in temp folders.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RawTensor {
  dtype: string;
  shape: number[];
  data: Buffer;
}

export type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

export function readSafetensorsHeader(file: string): { header: Header; data: Buffer } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Header;
  delete (header as Record<string, unknown>).__metadata__;
  return { header, data: buf.subarray(8 + n) };
}

export function readSafetensors(file: string): Map<string, RawTensor> {
  const { header, data } = readSafetensorsHeader(file);
  const out = new Map<string, RawTensor>();
  for (const [name, e] of Object.entries(header)) {
    out.set(name, { dtype: e.dtype, shape: e.shape, data: data.subarray(e.data_offsets[0], e.data_offsets[1]) });
  }
  return out;
}

export function f32(t: RawTensor): Float32Array {
  if (t.dtype !== 'F32') throw new Error(`expected F32, got ${t.dtype}`);
  const copy = Buffer.from(t.data);
  return new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
}

export function writeSafetensors(file: string, tensors: Map<string, RawTensor>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  writeRawSafetensors(file, header, Buffer.concat([...tensors.values()].map((t) => t.data)));
}

/** Writes a header object (possibly inconsistent on purpose) followed by `data`. */
export function writeRawSafetensors(file: string, header: unknown, data: Buffer): void {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([length, json, data]));
}

/** Copies a fixture checkpoint's JSON configs (not its weights) into `dir`. */
export function copyConfigs(from: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json']) {
    if (fs.existsSync(path.join(from, f))) fs.copyFileSync(path.join(from, f), path.join(dir, f));
  }
}
