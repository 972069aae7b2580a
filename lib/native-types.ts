// The typed native surface: the hand-written types of what the addon's production entry points take and return
// (the addon has no generated typings). Types only, importing nothing, so every lib/ module can use them without an
// import cycle; lib/native.ts loads the addon, lib/native-diagnostics.ts types its test and bench entry points.

export interface NativeTensorInfo {
  name: string;
  type: string;
  shape: number[];
  offset: number;
  bytes: number;
}

export interface NativeInspectResult {
  metadata: Record<string, unknown>;
  tensors: NativeTensorInfo[];
  fileBytes: number;
  dataOffset: number;
}

export interface NativeModelInfo {
  name: string;
  variant: 'text' | 'melody';
  sampleRate: number;
  channels: number;
  codebooks: number;
  frameRate: number;
  maxDuration: number;
  fileType: number;
  backend: string;
  threads: number;
  /** Element type of the LM's self-attention K/V cache ('f32' or 'f16'; LoadOptions.kvCache). */
  kvCache: 'f32' | 'f16';
  /**
   * How the EnCodec decoder computes its stride-1 convolutions: 'direct' from the input frames (a CPU decoder with
   * the AVX2 / AVX-512 kernel sets) or 'columns', gathered columns times ggml's matrix product (the memory estimate
   * differs).
   */
  codecConvolutions: 'direct' | 'columns';
  hparams: NativeHparams;
}

export interface NativeHparams {
  t5: {
    vocabSize: number;
    embeddingLength: number;
    feedForwardLength: number;
    blockCount: number;
    headCount: number;
    keyLength: number;
    relativeBuckets: number;
    relativeMaxDistance: number;
    layerNormEpsilon: number;
    feedForwardAct: 'relu' | 'gated-gelu';
  };
  lm: {
    codebookCount: number;
    codebookSize: number;
    embeddingLength: number;
    feedForwardLength: number;
    blockCount: number;
    headCount: number;
    maxPosition: number;
    layerNormEpsilon: number;
  };
  codec: {
    sampleRate: number;
    hiddenSize: number;
    numFilters: number;
    upsamplingRatios: number[];
    hopLength: number;
    kernelSize: number;
    lastKernelSize: number;
    residualKernelSize: number;
    numResidualLayers: number;
    dilationGrowthRate: number;
    compress: number;
    numLstmLayers: number;
    codebookSize: number;
    quantizerCount: number;
  };
  melody?: { numChroma: number; chromaLength: number; nFft: number; hopLength: number; chunkLength: number };
  generation: { maxLength: number; guidanceScale: number; padTokenId: number };
}

/** A loaded model (native/addon/model.cpp); its methods throw ERR_MUSICGEN_DISPOSED after dispose(). */
export interface NativeModel {
  info(): NativeModelInfo;
  tokenize(text: string): Int32Array;
  dispose(): void;
}

/** Sampling options of native generate(); the TS layer (lib/generate.ts) validates and fills defaults. */
export interface NativeGenerateOptions {
  frames: number;
  topK?: number;
  topP?: number;
  temperature?: number;
  guidanceScale?: number;
  seed?: number;
  /** Audio-prompt codes [batch, codebooks, promptFrames] row-major (stereo rows interleaved); output = prompt + new. */
  promptCodes?: Int32Array;
  promptFrames?: number;
  /** Melody models: chroma one-hots per prompt (null = none: the text-only null chroma); text models reject it. */
  chroma?: Array<NativeChromaFeatures | null>;
  /** Frames per chunk; 0 (default) = one chunk of everything, decoded in one pass. */
  chunkFrames?: number;
  /** Frames of the first chunk (1..chunkFrames; default 0 = chunkFrames). */
  firstChunkFrames?: number;
  /** Chunks produced ahead of pull() (default 1). */
  highWaterMark?: number;
  /** Deliver the codes with the final chunk. */
  codes?: boolean;
  /** false: codes only, no decoding (diagnostics, tools). */
  audio?: boolean;
  /** Frames: window length, new frames per extension, new frames in all; chroma per later window. */
  longForm?: { window: number; stride: number; total: number; chroma?: Array<Array<NativeChromaFeatures | null>> };
}

/** One prompt's chroma one-hots [frames, numChroma] row-major (MusicGen-Melody conditioning). */
export interface NativeChromaFeatures {
  data: Float32Array;
  frames: number;
}

/** Audio samples that became final: audio[prompt][channel], all of the same length, from startSample on. */
export interface NativeChunk {
  audio: Float32Array[][];
  startSample: number;
  final: boolean;
  /** With `codes: true`, on the final chunk: undelayed codes [batch, codebooks, frames], row-major. */
  codes?: Int32Array;
  frames?: number;
}

/** A running job: pull(n) grants n more chunks (one per chunk consumed), abort() cancels it. */
export interface NativeGenerationJob {
  pull(n: number): void;
  abort(): void;
}

/** Chroma front-end parameters: the model's sample rate and its musicgen.melody.* keys. */
export interface NativeMelodyParams {
  sampleRate: number;
  nFft: number;
  hopLength: number;
  numChroma: number;
  chunkLength: number;
}

export interface NativeChroma {
  frames: number;
  prequant: Float32Array;
  onehot: Float32Array;
}

/**
 * The production surface of the addon: what lib/ and convert/ call. The same module object also carries the
 * diagnostics and bench entry points, typed separately in lib/native-diagnostics.ts so this list stays the one
 * the package depends on.
 */
export interface NativeAddon {
  ggmlVersion: string;
  /** Registers ggml's backend modules (portable builds); called once by native() right after loading. */
  loadBackends(addonDir: string, extraDirs: string[]): NativeBackendModules;
  /** ggml's quantisation of rows of `rowLength` values (convert/). */
  quantize(type: string, data: Float32Array, rowLength: number): Buffer;
  /** Validates like loadModel; tensor offsets are relative to dataOffset. */
  inspect(path: string): NativeInspectResult;
  loadModel(path: string, options?: { backend?: string; threads?: number; kvCache?: string }): Promise<NativeModel>;
  /**
   * Tokenises, runs T5 and the text projection on a worker thread (native/addon/encode-text.cpp); resolves to the
   * public EncodedText as is.
   */
  encodeText(model: NativeModel, prompts: string[]): Promise<EncodedText>;
  /**
   * The one generation job (native/addon/generation-job.cpp, native/src/pipeline/pipeline.h), on a thread of its
   * own: T5 once, the LM loop (long-form windows included), the EnCodec decoder. onMessage gets chunks
   * ([prompt][channel] samples; the codes on the final one when asked) and nothing after `final`, (step, total)
   * after every LM step when reportSteps, or a coded Error (aborts included). At most `highWaterMark` chunks are
   * produced ahead of pull() calls.
   */
  generate(
    model: NativeModel,
    tokens: Int32Array[],
    options: NativeGenerateOptions,
    onMessage: (message: NativeChunk | Error | number, total?: number) => void,
    reportSteps?: boolean,
  ): NativeGenerationJob;
  /** One prompt's codes [codebooks, frames] (stereo rows interleaved) decoded in one pass, one array per channel. */
  decodeAudio(model: NativeModel, codes: Int32Array, frames: number): Promise<Float32Array[]>;
  /**
   * EnCodec encode of one mono waveform at the codec's sample rate (native/addon/encode-audio.cpp): codes
   * [codebooks, frames] row-major with the LM's quantizers per channel, and the encoder output before
   * quantisation as embeddings [hidden, frames].
   */
  encodeAudio(
    model: NativeModel,
    pcm: Float32Array,
  ): Promise<{ codes: Int32Array; codebooks: number; frames: number; embeddings: Float32Array }>;
  /**
   * MusicGen-Melody chroma (native/addon/chroma.cpp) of mono PCM at params.sampleRate: prequant and one-hot
   * [frames, numChroma] row-major (see lib/melody.ts for the input handling in front of it).
   */
  chromaFeatures(pcm: Float32Array, params: NativeMelodyParams): Promise<NativeChroma>;
}

/** What loadBackends() found: the ggml backends registered and the GPU modules that could not be used. */
export interface NativeBackendModules {
  /** true for portable builds (prebuilds): ggml backends are modules beside the addon, chosen at load time. */
  dynamic: boolean;
  /** ggml registry names, e.g. ['CPU'] or ['CUDA', 'CPU']. */
  registered: string[];
  /** Instruction-set features of the CPU backend in use, e.g. ['SSE3', 'AVX', 'AVX2', 'FMA']. */
  cpuFeatures: string[];
  /** The kernels of the LM's per-step products on the CPU (native/src/runtime/cpu-matvec.h). */
  cpuKernels: 'avx512' | 'avx2' | 'scalar' | 'ggml';
  failed: Array<{ path: string; reason: string }>;
  /** Every compute device registered, in registry order. */
  devices: NativeDevice[];
}

/** A compute device ggml offers (native/src/runtime/backend.h device_info). */
export interface NativeDevice {
  name: string;
  description: string;
  backend: string;
  type: 'gpu' | 'igpu' | 'cpu' | 'accel';
  memoryTotal: number;
  /** Why backend 'auto' passes this device over; absent when it would take it. */
  autoSkip?: string;
}

/** One encoded prompt batch. Arrays are row-major; padded positions are included as HF computes them. */
export interface EncodedText {
  /** Number of prompts (B). */
  batch: number;
  /** Tokens of the longest prompt, EOS included (L); shorter prompts are right-padded with the pad id. */
  tokens: number;
  /** T5 width (d_model, D). */
  t5Dim: number;
  /** LM width (H) of `states`. */
  hiddenDim: number;
  /** [B, L] T5 token ids. */
  inputIds: Int32Array;
  /** [B, L] 1 for tokens, 0 for padding. */
  attentionMask: Float32Array;
  /** [B, L, D] T5 last_hidden_state (after the final RMSNorm). */
  t5States: Float32Array;
  /** [B, L, H] T5 states projected to the LM width and multiplied by the mask (padding rows are zero). */
  states: Float32Array;
}
