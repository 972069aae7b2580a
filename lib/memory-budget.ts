// Resource limits: what a generate() / stream() request will allocate, estimated from the model's
// hyper-parameters before any native work, and refused with ERR_MUSICGEN_MEMORY_BUDGET when it exceeds the
// budget (MusicGen.load(path, { memoryBudget }), default os.totalmem(); per request `memoryBudget`).
// The formulas follow the native allocations; docs/bad-input.md#memory-budget lists what is and is not counted.
import * as os from 'node:os';
import { MemoryBudgetError } from './errors';
import type { NativeModelInfo } from './native';
import { invalid } from './validate';

const F32 = 4;
const F16 = 2;
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
  /**
   * LM self-attention K/V cache: layers * 2 * hidden * positions * rows * 4 (f32) or 2 (f16, `info.kvCache`),
   * melody prefix included.
   */
  kvCache: number;
  /** Text models: cross-attention K/V of the prompts, f32: layers * 2 * hidden * textTokens * prompts * 4. */
  crossAttention: number;
  /** T5 encoder: the position bias and one layer's attention scores, prompts * heads * textTokens^2 * 4 each. */
  textEncoder: number;
  /** Codes: the LM's delayed code matrix, then the result's [prompts, codebooks, frames] int32. */
  codes: number;
  /** generate(): every output sample (f32); stream(): the chunks buffered ahead of the consumer. */
  audio: number;
  /**
   * EnCodec decoders' compute memory: generate() decodes one channel of one clip at a time (on the CPU through a
   * streaming decoder); stream() holds one streaming decoder per prompt and channel, which push in turn and share
   * one workspace, whose compute buffer is that of the largest window (native/src/codec/workspace.h).
   */
  decode: number;
  /** Peak: LM + decode + audio; the decoders run inside the LM's frame loop, while its KV cache is held. */
  total: number;
}

// Chunks a stream produces ahead of its consumer (lib/stream.ts HIGH_WATER_MARK).
export const STREAM_BUFFERED_CHUNKS = 2;

// ggml's graph allocator places tensors in one buffer with first-fit reuse; its size exceeds the sum of the tensors
// live at the peak by a little fragmentation (0.1 % for musicgen's EnCodec, measured by test/memory-budget.test.ts).
const ALLOCATOR_SLACK = 1.01;

type Codec = NativeModelInfo['hparams']['codec'];

// Compute bytes per full-rate sample of the EnCodec decoder's largest graph step: the ELU and last convolution
// (numFilters channels -> 1, lastKernelSize taps, native/src/codec/decoder-conv.cpp) over the full-rate signal, i.e.
// its gathered F32 columns (numFilters x lastKernelSize per sample), its input and the ELU's output (numFilters
// each), its int32 gather indices (lastKernelSize) and its output (1), all live together.
function lastConvBytesPerSample(codec: Codec): number {
  return (codec.numFilters * (codec.lastKernelSize + 2) + codec.lastKernelSize + 1) * F32;
}

// The same when the convolutions run directly from their input frames (NativeModelInfo.codecConvolutions 'direct',
// native/src/codec/decoder-cpu-ops.h): no columns and no products to overlap-add, so the largest step is the
// full-rate residual block (its input, hidden and output frames and the int32 gather indices: one per padded frame,
// or residualKernelSize per output for a dilated convolution, whose columns are gathered), the last upsampling (its
// input, 2 numFilters channels at 1 / ratio of the rate, its gather indices and output) or the last convolution
// (input, indices, output).
function directStepBytesPerSample(codec: Codec): number {
  const filters = codec.numFilters;
  const ratio = codec.upsamplingRatios[codec.upsamplingRatios.length - 1] ?? 1;
  const dilated = codec.numResidualLayers > 1 && codec.dilationGrowthRate > 1;
  const residual = filters * (2 + 1 / codec.compress) + (dilated ? codec.residualKernelSize : 1);
  const upsampling = filters * (1 + 2 / ratio) + 1 / ratio;
  return Math.max(residual, upsampling, filters + 2) * F32;
}

// On a GPU the one-shot decoder runs every stage after the last LSTM as one graph, whose inputs ggml allocates up
// front: that graph also holds the int32 gather indices of every residual convolution (residualKernelSize per output
// sample of its upsampling stage).
function residualIndexBytesPerSample(codec: Codec): number {
  let rate = 1; // the stage's sample rate relative to the output's
  let perSample = 0;
  for (let i = codec.upsamplingRatios.length - 1; i >= 0; i--) {
    perSample += codec.numResidualLayers * codec.residualKernelSize * rate;
    rate /= codec.upsamplingRatios[i]!;
  }
  return perSample * I32;
}

// Frames per push when the native one-shot decoder runs a whole clip through the streaming decoder on the CPU
// (native/src/codec/decoder.h: encodec_whole_clip_chunk_frames).
const WHOLE_CLIP_CHUNK_FRAMES = 25;

// Output samples the streaming decoder's outputs wait for beyond their own frame: each stride-1 convolution's right
// padding, each ConvTranspose1d's overlap, summed at the output rate (native/src/codec/stream.cpp).
function decoderDelaySamples(codec: Codec): number {
  const right = (kernel: number, dilation = 1) => Math.floor(((kernel - 1) * dilation) / 2);
  let delay = right(codec.kernelSize);
  for (const r of codec.upsamplingRatios) {
    delay = delay * r + (r - Math.floor(r / 2));
    for (let j = 0; j < codec.numResidualLayers; j++) {
      delay += right(codec.residualKernelSize, codec.dilationGrowthRate ** j);
    }
  }
  return delay + right(codec.lastKernelSize);
}

/**
 * Compute bytes the one-shot EnCodec decoder of one channel of `frames` frames allocates: on the CPU it pushes the
 * clip through a streaming decoder WHOLE_CLIP_CHUNK_FRAMES at a time; on a GPU (`onCpu` false) its largest graph
 * holds the whole clip's last stages.
 */
export function wholeDecodeBytes(codec: Codec, frames: number, onCpu = true, direct = false): number {
  if (onCpu) return streamDecodeBytes(codec, frames, WHOLE_CLIP_CHUNK_FRAMES, direct);
  const samples = frames * codec.hopLength;
  return Math.ceil(samples * (lastConvBytesPerSample(codec) + residualIndexBytesPerSample(codec)) * ALLOCATOR_SLACK);
}

/**
 * Compute bytes one streaming EnCodec decoder allocates when `frames` frames are pushed `chunkFrames` at a time
 * (one chunk of all frames when chunkFrames >= frames): its last stage's largest window, which is a chunk (the
 * first chunk minus the decoder's delay when it is the only one), or what finish() decodes at the end (the delay),
 * plus that convolution's context.
 */
export function streamDecodeBytes(codec: Codec, frames: number, chunkFrames: number, direct = false): number {
  const samples = frames * codec.hopLength;
  const delay = decoderDelaySamples(codec);
  const pushed = chunkFrames >= frames ? samples - delay : chunkFrames * codec.hopLength;
  const window = Math.max(pushed, Math.min(delay, samples)) + codec.lastKernelSize - 1;
  const perSample = direct ? directStepBytesPerSample(codec) : lastConvBytesPerSample(codec);
  return Math.ceil(window * perSample * ALLOCATOR_SLACK);
}

/** The memory estimate of a request on a model described by `info`. */
export function estimateMemory(
  info: Pick<NativeModelInfo, 'variant' | 'channels' | 'codebooks' | 'hparams'> &
    Partial<Pick<NativeModelInfo, 'kvCache' | 'backend' | 'codecConvolutions'>>,
  request: MemoryRequest,
): MemoryEstimate {
  const { lm, t5, codec, melody } = info.hparams;
  const groups = info.codebooks / info.channels;
  const rows = request.prompts * (request.guided ? 2 : 1);
  // Positions the LM session holds (native/src/generation.cpp: L - 1 with L = prompt + new frames + groups),
  // after the melody variant's chroma + text prefix (native/src/melody-conditioning.cpp).
  const prefix = info.variant === 'melody' ? (melody?.chromaLength ?? 0) + request.textTokens : 0;
  const positions = prefix + request.windowFrames + groups - 1;
  const kvCache = lm.blockCount * 2 * lm.embeddingLength * positions * rows * (info.kvCache === 'f16' ? F16 : F32);
  const crossAttention =
    info.variant === 'text' ? lm.blockCount * 2 * lm.embeddingLength * request.textTokens * request.prompts * F32 : 0;
  const textEncoder = 2 * request.prompts * t5.headCount * request.textTokens ** 2 * F32;
  const delayed = request.prompts * info.codebooks * (request.windowFrames + groups) * I32;
  const result = request.prompts * info.codebooks * request.outputFrames * I32;
  const codes = delayed + result;
  const hop = codec.hopLength;
  const lmPhase = kvCache + crossAttention + textEncoder + codes;
  const direct = info.codecConvolutions === 'direct';
  let audio: number;
  let decode: number;
  if (request.decode === 'stream') {
    const chunkFrames = request.chunkFrames ?? 1;
    audio = STREAM_BUFFERED_CHUNKS * request.prompts * info.channels * chunkFrames * hop * F32;
    // One streaming decoder per prompt and channel, all alive until the stream ends, computing in turn in one
    // workspace (native/src/pipeline, native/src/codec/workspace.h).
    decode = streamDecodeBytes(codec, request.outputFrames, chunkFrames, direct);
  } else {
    audio = request.prompts * info.channels * request.outputFrames * hop * F32;
    // One channel of one clip at a time, in one workspace.
    decode = wholeDecodeBytes(codec, request.outputFrames, (info.backend ?? 'CPU') === 'CPU', direct);
  }
  // The decoders run inside the LM's frame loop (native/src/pipeline): the KV cache is still held.
  const total = lmPhase + decode + audio;
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
      ? `${lm} + EnCodec decoders ${f(estimate.decode)} + buffered chunks ${f(estimate.audio)}`
      : `${lm} + EnCodec decoder ${f(estimate.decode)} + audio ${f(estimate.audio)}`;
  throw new MemoryBudgetError(
    `This ${what} request needs about ${f(estimate.total)} (${parts}), over the memory budget of ${f(budget)}. ` +
      'Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    estimate.total,
    budget,
  );
}
