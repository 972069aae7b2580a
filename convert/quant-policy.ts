// Which ggml type each tensor is stored as for a requested --type (docs/gguf-format.md, "Data types and the
// quantisation policy"), and the byte size of a tensor in that type.
import type { TensorRole } from './tensor-map';

export const OUTPUT_TYPES = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

export interface GgmlTypeInfo {
  /** ggml_type enum value written to the tensor info. */
  id: number;
  blockSize: number;
  blockBytes: number;
}

export const GGML_TYPES: Record<OutputType, GgmlTypeInfo> = {
  f32: { id: 0, blockSize: 1, blockBytes: 4 },
  f16: { id: 1, blockSize: 1, blockBytes: 2 },
  q4_0: { id: 2, blockSize: 32, blockBytes: 18 },
  q8_0: { id: 8, blockSize: 32, blockBytes: 34 },
  q4_k: { id: 12, blockSize: 256, blockBytes: 144 },
};

/** `general.file_type` (llama.cpp's LLAMA_FTYPE numbering) of each --type. */
export const FILE_TYPE: Record<OutputType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 15 };

export function isOutputType(value: string): value is OutputType {
  return (OUTPUT_TYPES as readonly string[]).includes(value);
}

/** Storage type of a tensor whose innermost (ggml ne0) dimension is `rowLength`. */
export function storageType(role: TensorRole, requested: OutputType, rowLength: number): OutputType {
  if (requested === 'f32' || role === 'f32') return 'f32';
  if (role === 'f16-max' || requested === 'f16') return 'f16';
  if (rowLength % GGML_TYPES[requested].blockSize === 0) return requested;
  if (requested === 'q4_k' && rowLength % GGML_TYPES.q8_0.blockSize === 0) return 'q8_0';
  return 'f16';
}

export function tensorBytes(type: OutputType, elements: number, rowLength: number): number {
  const info = GGML_TYPES[type];
  const rows = elements / rowLength;
  return rows * (rowLength / info.blockSize) * info.blockBytes;
}
