// Loads the native addon and types its surface by hand (the one place JS meets C++).
// Order: $MUSICGEN_NATIVE_ADDON, build/{Release,Debug} (a source build), then prebuilds/<platform>-<arch>/*.node.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EncodedText } from './encode-text';
import { MusicGenError } from './errors';

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

/** Tokenizer vocabulary as stored under tokenizer.ggml.* (types: SentencePiece piece types 1..6). */
export interface NativeTokenizerVocab {
  pieces: string[];
  scores: Float32Array;
  types: Int32Array;
  charsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  eosId: number;
  unkId: number;
  padId: number;
  extraIds: number;
}

export interface NativeTokenizer {
  /** T5 token ids (eos appended); a Uint8Array is taken as raw UTF-8 bytes. */
  encode(text: string | Uint8Array): Int32Array;
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

/** Diagnostics: one teacher-forced LM pass (native/addon/generate.cpp), arrays row-major. */
export interface NativeLmForward {
  /** [batch, codebooks, tokens, vocab] logits of the conditional rows. */
  cond: Float32Array;
  /** Same for the unconditional rows; null when guidanceScale <= 1 (no CFG rows). */
  uncond: Float32Array | null;
  /** uncond + (cond - uncond) * guidanceScale, or cond without CFG. */
  guided: Float32Array;
  /** [rows, tokens, hidden] decoder input embeddings (rows = batch, or 2 * batch with CFG). */
  inputsEmbeds: Float32Array;
  /** [rows, tokens, hidden] after the final LayerNorm. */
  lastHidden: Float32Array;
  batch: number;
  rows: number;
  codebooks: number;
  tokens: number;
  vocab: number;
  hidden: number;
  /** Melody: [rows, prefixTokens, hidden] chroma + text prefix the decoder attends to; null for text models. */
  prefix: Float32Array | null;
  /** Melody: chroma_length + text tokens; 0 for text models. */
  prefixTokens: number;
}

/** Diagnostics: an EnCodec decoder stage output read back by decodeCodes(..., stages). */
export interface NativeDecodeStage {
  /** Index in HF's audio_encoder.decoder.layers, or -1 for the RVQ sum (quantizer.decode). */
  index: number;
  channels: number;
  length: number;
  /** [channels, length], row-major (PyTorch's [C, T]). */
  data: Float32Array;
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

export interface NativeAddon {
  ggmlVersion: string;
  /** Registers ggml's backend modules (portable builds); called once by native() right after loading. */
  loadBackends(addonDir: string, extraDirs: string[]): NativeBackendModules;
  quantize(type: string, data: Float32Array, rowLength: number): Buffer;
  /** Validates like loadModel; tensor offsets are relative to dataOffset. */
  inspect(path: string): NativeInspectResult;
  loadModel(path: string, options?: { backend?: string; threads?: number }): Promise<NativeModel>;
  createTokenizer(vocab: NativeTokenizerVocab): NativeTokenizer;
  /** Tokenises, runs T5 and the text projection on a worker thread (native/addon/encode-text.cpp). */
  /** Resolves to the public EncodedText as is (documented in lib/encode-text.ts). */
  encodeText(model: NativeModel, prompts: string[]): Promise<EncodedText>;
  /** T5's bidirectional relative-position bucket of each `key - query` offset. */
  t5RelativeBucket(rel: Int32Array, numBuckets: number, maxDistance: number): Int32Array;
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
   * Diagnostics API: a teacher-forced LM pass over delayed decoder ids [batch, codebooks, T] (column 0 = BOS),
   * with the unconditional half when guidanceScale > 1, as HF's model(...) call. Not for generation.
   */
  lmForward(
    model: NativeModel,
    prompts: string[],
    ids: Int32Array,
    guidanceScale: number,
    chroma?: Array<NativeChromaFeatures | null>,
  ): Promise<NativeLmForward>;
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
  /** Diagnostics API: the chroma filter bank [numChroma, nFft / 2 + 1] row-major (row 0 = C). */
  chromaFilterBank(params: NativeMelodyParams): Float32Array;
  /**
   * bench/ only: one pass over the weight products of an LM decoding step (`rows` rows, `cond` of them through
   * cross-attention) run alone on the model's backend; median / min of `reps` passes (native/src/lm-floor.h).
   */
  benchLmProducts(
    model: NativeModel,
    rows: number,
    cond: number,
    reps: number,
  ): Promise<{ weightBytes: number; products: number; medianMs: number; minMs: number }>;
  /** bench/ only: memory copy bandwidth (bytes read + written per second), `mib` MiB by `threads` threads. */
  benchCopyBandwidth(mib: number, threads: number, reps: number): Promise<number>;
  /** EnCodec decode of one mono code matrix [codebooks, frames] (row-major) -> frames * hopLength samples. */
  decodeCodes(model: NativeModel, codes: Int32Array, codebooks: number, frames: number): Promise<Float32Array>;
  /** Diagnostics API: the same decode, also returning the outputs of the listed decoder stages. */
  decodeCodes(
    model: NativeModel,
    codes: Int32Array,
    codebooks: number,
    frames: number,
    stages: number[],
  ): Promise<{ audio: Float32Array; stages: NativeDecodeStage[] }>;
  /**
   * Diagnostics API: the streaming EnCodec decoder (native/src/encodec-stream.h) fed chunkFrames frames per push:
   * `chunks` holds what each push and then finish() returned; lookaheadFrames is its lookahead. With
   * pushAfterFinish the first chunk is pushed again after finish(), which must reject.
   */
  decodeCodesStreaming(
    model: NativeModel,
    codes: Int32Array,
    codebooks: number,
    frames: number,
    chunkFrames: number,
    pushAfterFinish?: boolean,
  ): Promise<{ chunks: Float32Array[]; lookaheadFrames: number }>;
  /** Diagnostics API: HF's warpers on each row of `vocab` scores (-inf = removed) and the softmax sampled from. */
  warpScores(
    scores: Float32Array,
    vocab: number,
    options: { topK?: number; topP?: number; temperature?: number },
  ): { scores: Float32Array; probs: Float32Array };
}

const packageRoot = path.resolve(__dirname, '..', '..');
// The newest glibc symbol version the linux-x64 prebuild needs (`objdump -T`; docs/prebuilds.md); it also needs
// GCC 12's libstdc++ (GLIBCXX_3.4.30).
const PREBUILD_MIN_GLIBC = '2.34';

/** What loadBackends() found: the ggml backends registered and the GPU modules that could not be used. */
export interface NativeBackendModules {
  /** true for portable builds (prebuilds): ggml backends are modules beside the addon, chosen at load time. */
  dynamic: boolean;
  /** ggml registry names, e.g. ['CPU'] or ['CUDA', 'CPU']. */
  registered: string[];
  /** Instruction-set features of the CPU backend in use, e.g. ['SSE3', 'AVX', 'AVX2', 'FMA']. */
  cpuFeatures: string[];
  failed: Array<{ path: string; reason: string }>;
}

// libc of this process: prebuilds tagged for the other one are skipped (musl builds cannot load glibc ones).
function libc(): 'glibc' | 'musl' | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

// prebuildify's names: <package>[.<tag>...].node, e.g. musicgen-native.glibc.node.
function prebuildMatches(file: string): boolean {
  if (!file.endsWith('.node')) return false;
  const tags = file.slice(0, -'.node'.length).split('.').slice(1);
  const wanted = libc();
  return !tags.some((tag) => (tag === 'glibc' || tag === 'musl') && tag !== wanted);
}

// Like node-gyp-build: an explicit override first, then a local source build (a user who ran `npm rebuild`
// wants it), then the prebuilt binary shipped in the package.
function candidatePaths(): string[] {
  const candidates: string[] = [];
  const override = process.env.MUSICGEN_NATIVE_ADDON;
  if (override) candidates.push(path.resolve(override));
  candidates.push(path.join(packageRoot, 'build', 'Release', 'musicgen.node'));
  candidates.push(path.join(packageRoot, 'build', 'Debug', 'musicgen.node'));
  const prebuildDir = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  let prebuilds: string[] = [];
  try {
    prebuilds = fs.readdirSync(prebuildDir).filter(prebuildMatches);
  } catch {
    // no prebuilds for this platform: reported as the path below
  }
  if (prebuilds.length === 0) candidates.push(path.join(prebuildDir, '*.node'));
  candidates.push(...prebuilds.sort().map((f) => path.join(prebuildDir, f)));
  return candidates;
}

let cached: NativeAddon | undefined;
let cachedFile: string | undefined;
let modules: NativeBackendModules | undefined;

/** Folders besides the addon's own that may hold GPU backend modules ($MUSICGEN_BACKEND_DIR, path-delimited). */
function extraBackendDirs(): string[] {
  return (process.env.MUSICGEN_BACKEND_DIR ?? '').split(path.delimiter).filter((d) => d !== '');
}

// A GPU module that is present but unusable (no driver, missing CUDA runtime) leaves the CPU in charge:
// say so once, as a process warning the application can observe or silence.
function warnAboutFailedModules(found: NativeBackendModules): void {
  for (const failure of found.failed) {
    // ggml says "failed to load <path>: <dlerror>", and dlerror repeats the path: keep the reason.
    const reason = failure.reason
      .split(`${failure.path}: `)
      .join('')
      .replace(/^failed to load /, '');
    process.emitWarning(
      `musicgen-native: GPU backend ${path.basename(failure.path)} is not usable (${reason}); running on the CPU.`,
      { code: 'MUSICGEN_BACKEND_UNAVAILABLE', detail: failure.path },
    );
  }
}

/** The loaded addon; throws ERR_MUSICGEN_ADDON_NOT_FOUND listing every path tried and what to do. */
export function native(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  for (const candidate of candidatePaths()) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate} (not found)`);
      continue;
    }
    let addon: NativeAddon;
    try {
      addon = require(candidate) as NativeAddon;
    } catch (error) {
      tried.push(`${candidate} (${(error as Error).message.split('\n')[0]})`);
      continue;
    }
    modules = addon.loadBackends(path.dirname(candidate), extraBackendDirs());
    warnAboutFailedModules(modules);
    cached = addon;
    cachedFile = candidate;
    return addon;
  }
  throw new MusicGenError(
    'ERR_MUSICGEN_ADDON_NOT_FOUND',
    [
      `musicgen-native could not load its native addon for ${process.platform}-${process.arch} (Node ${process.version}, N-API 8).`,
      'Paths tried:',
      ...tried.map((t) => `  - ${t}`),
      'Possible solutions:',
      '  - Reinstall so the prebuilt binary is unpacked: `npm install musicgen-native --force`.',
      '  - Build from source (needs cmake >= 3.18 and a C++17 compiler): `npm rebuild musicgen-native` or, in a clone, `npm run build:native`.',
      '  - Point MUSICGEN_NATIVE_ADDON at a musicgen.node you built yourself.',
      `  - On Linux, prebuilds need glibc >= ${PREBUILD_MIN_GLIBC} and libstdc++ from GCC >= 12; otherwise, and on musl (Alpine), build from source.`,
    ].join('\n'),
  );
}

/** The addon file in use and the ggml backends it registered (loads the addon if needed). */
export function nativeRuntime(): { file: string; ggmlVersion: string } & NativeBackendModules {
  const addon = native();
  return { file: cachedFile ?? '', ggmlVersion: addon.ggmlVersion, ...(modules as NativeBackendModules) };
}
