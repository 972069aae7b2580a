// Resource limits: what a generate() / stream() request will allocate, estimated from the model's
// hyper-parameters before any native work, and refused with ERR_MUSICGEN_MEMORY_BUDGET when it exceeds the
// budget (MusicGen.load(path, { memoryBudget }), default os.totalmem(); per request `memoryBudget`).
// The formulas follow the native allocations; docs/bad-input.md#memory-budget lists what is and is not counted.
import * as os from 'node:os';
import { MemoryBudgetError } from './errors';
import type { NativeModelInfo } from './native';
import { invalid } from './validate';

const F32 = 4;
const I32 = 4;

/** The default budget: the machine's total RAM. */
export function defaultMemoryBudget(): number {
  return os.totalmem();
}

/** Checks a memoryBudget option: a positive number of bytes, or Infinity to turn the check off. */
export function memoryBudgetOption(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw invalid(name, 'a positive number of bytes (or Infinity for no limit)', value);
  }
  return value;
}

/** The shape of a request, as far as memory goes. */
export interface MemoryRequest {
  /** Text prompts in the batch. */
  prompts: number;
  /** T5 tokens of the longest prompt (EOS included): the padded text length of the batch. */
  textTokens: number;
  /** Classifier-free guidance (guidanceScale > 1) doubles the LM rows. */
  guided: boolean;
  /** Codec frames of the largest LM window: audio-prompt frames + new frames (long-form: the window). */
  windowFrames: number;
  /** Codec frames per prompt in the result (audio prompt included). */
  outputFrames: number;
  /** 'whole': generate() decodes each prompt's clip at once; 'stream': chunks of `chunkFrames` frames. */
  decode: 'whole' | 'stream';
  /** stream(): codec frames per chunk. */
  chunkFrames?: number;
}

/** Bytes a request allocates, by part (see docs/bad-input.md#memory-budget). */
export interface MemoryEstimate {
  /** LM self-attention K/V cache, f32: layers * 2 * hidden * positions * rows * 4 (melody prefix included). */
  kvCache: number;
  /** Text models: cross-attention K/V of the prompts, f32: layers * 2 * hidden * textTokens * prompts * 4. */
  crossAttention: number;
  /** T5 encoder: the position bias and one layer's attention scores, prompts * heads * textTokens^2 * 4 each. */
  textEncoder: number;
  /** Codes: the LM's delayed code matrix, then the result's [prompts, codebooks, frames] int32. */
  codes: number;
  /** generate(): every output sample (f32); stream(): the chunks buffered ahead of the consumer. */
  audio: number;
  /** generate(): EnCodec decoder working memory of one channel of one clip (a lower bound); 0 for streams. */
  decode: number;
  /** Peak: generate() max(LM phase, decode phase); stream() LM + buffered chunks (they run together). */
  total: number;
}

// Chunks a stream produces ahead of its consumer (lib/stream.ts HIGH_WATER_MARK).
export const STREAM_BUFFERED_CHUNKS = 2;

/** The memory estimate of a request on a model described by `info`. */
export function estimateMemory(
  info: Pick<NativeModelInfo, 'variant' | 'channels' | 'codebooks' | 'fileType' | 'hparams'>,
  request: MemoryRequest,
): MemoryEstimate {
  const { lm, t5, codec, melody } = info.hparams;
  const groups = info.codebooks / info.channels;
  const rows = request.prompts * (request.guided ? 2 : 1);
  // Positions the LM session holds (native/src/generation.cpp: L - 1 with L = prompt + new frames + groups),
  // after the melody variant's chroma + text prefix (native/src/melody-conditioning.cpp).
  const prefix = info.variant === 'melody' ? (melody?.chromaLength ?? 0) + request.textTokens : 0;
  const positions = prefix + request.windowFrames + groups - 1;
  const kvCache = lm.blockCount * 2 * lm.embeddingLength * positions * rows * F32;
  const crossAttention =
    info.variant === 'text' ? lm.blockCount * 2 * lm.embeddingLength * request.textTokens * request.prompts * F32 : 0;
  const textEncoder = 2 * request.prompts * t5.headCount * request.textTokens ** 2 * F32;
  const delayed = request.prompts * info.codebooks * (request.windowFrames + groups) * I32;
  const result = request.prompts * info.codebooks * request.outputFrames * I32;
  const codes = delayed + result;
  const hop = codec.hopLength;
  let audio: number;
  let decode = 0;
  let total: number;
  const lmPhase = kvCache + crossAttention + textEncoder + codes;
  if (request.decode === 'stream') {
    audio = STREAM_BUFFERED_CHUNKS * request.prompts * info.channels * (request.chunkFrames ?? 1) * hop * F32;
    total = lmPhase + audio;
  } else {
    const samples = request.outputFrames * hop;
    audio = request.prompts * info.channels * samples * F32;
    // The decoder's last convolution (numFilters -> 1 channel, lastKernelSize taps) runs at the full sample rate:
    // its im2col columns (in the kernel's type: f32 files keep f32 codec kernels, others f16) and its padded f32
    // input exist together. Other buffers of that graph come on top, so this is a lower bound.
    const kernelBytes = info.fileType === 0 ? 4 : 2;
    const columns = samples * codec.lastKernelSize * codec.numFilters * kernelBytes;
    const padded = (samples + codec.lastKernelSize - 1) * codec.numFilters * F32;
    decode = columns + padded;
    total = Math.max(lmPhase, decode + audio + result);
  }
  return { kvCache, crossAttention, textEncoder, codes, audio, decode, total };
}

/** Bytes in binary units: "512 bytes", "1.5 KiB", "12.0 MiB", "3.2 GiB". */
export function formatBytes(bytes: number): string {
  if (bytes === Infinity) return 'no limit';
  if (bytes < 1024) return `${Math.round(bytes)} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Throws ERR_MUSICGEN_MEMORY_BUDGET (a MemoryBudgetError) when `estimate.total` exceeds `budget`. */
export function checkMemory(estimate: MemoryEstimate, budget: number, what: 'generate()' | 'stream()'): void {
  if (estimate.total <= budget) return;
  const f = formatBytes;
  const lm = [
    `KV cache ${f(estimate.kvCache)}`,
    ...(estimate.crossAttention > 0 ? [`cross-attention ${f(estimate.crossAttention)}`] : []),
    `text encoder ${f(estimate.textEncoder)}`,
    `codes ${f(estimate.codes)}`,
  ].join(' + ');
  const parts =
    what === 'stream()'
      ? `${lm} + buffered chunks ${f(estimate.audio)}`
      : `LM: ${lm}; then decoding: EnCodec working memory ${f(estimate.decode)} + audio ${f(estimate.audio)}`;
  throw new MemoryBudgetError(
    `This ${what} request needs about ${f(estimate.total)} (${parts}), over the memory budget of ${f(budget)}. ` +
      'Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    estimate.total,
    budget,
  );
}
