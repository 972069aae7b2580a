// The addon's diagnostics and bench entry points, typed apart from its production surface (lib/native-types.ts):
// parity tests (test/), tools/ and bench/ reach them through nativeDiagnostics(); nothing in lib/ does. They live on
// the same module object native() loads, so this adds no second load and changes nothing at run time.
import { native } from './native';
import type { NativeChromaFeatures, NativeMelodyParams, NativeModel } from './native-types';

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

/** Diagnostics: one teacher-forced LM pass (native/addon/diagnostics.cpp), arrays row-major. */
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

/** What a decode's graph runner allocated for compute (ggml's allocator keeps the largest graph's buffer). */
export interface NativeComputeBytes {
  computeBytes: number;
}

export interface NativeDiagnostics {
  /** A SentencePiece tokenizer built from a vocabulary alone (native/addon/tokenizer.cpp), for tokenizer parity. */
  createTokenizer(vocab: NativeTokenizerVocab): NativeTokenizer;
  /** T5's bidirectional relative-position bucket of each `key - query` offset (native/addon/encode-text.cpp). */
  t5RelativeBucket(rel: Int32Array, numBuckets: number, maxDistance: number): Int32Array;
  /**
   * A teacher-forced LM pass over delayed decoder ids [batch, codebooks, T] (column 0 = BOS), with the
   * unconditional half when guidanceScale > 1, as HF's model(...) call (native/addon/diagnostics.cpp). Not for
   * generation.
   */
  lmForward(
    model: NativeModel,
    prompts: string[],
    ids: Int32Array,
    guidanceScale: number,
    chroma?: Array<NativeChromaFeatures | null>,
  ): Promise<NativeLmForward>;
  /**
   * A greedy generation of `frames` frames: LM steps taken and how often the replayable step graph was built
   * (once per 256 cache positions; native/src/lm/lm-state.cpp).
   */
  lmStepGraphs(model: NativeModel, prompts: string[], frames: number): Promise<{ steps: number; builds: number }>;
  /** HF's warpers on each row of `vocab` scores (-inf = removed) and the softmax sampled from. */
  warpScores(
    scores: Float32Array,
    vocab: number,
    options: { topK?: number; topP?: number; temperature?: number },
  ): { scores: Float32Array; probs: Float32Array };
  /** The chroma filter bank [numChroma, nFft / 2 + 1] row-major, row 0 = C (native/addon/chroma.cpp). */
  chromaFilterBank(params: NativeMelodyParams): Float32Array;
  /**
   * EnCodec decode of one mono code matrix [codebooks, frames] (row-major) -> frames * hopLength samples
   * (native/addon/decode-codes.cpp; generation decodes through NativeAddon.decodeAudio).
   */
  decodeCodes(model: NativeModel, codes: Int32Array, codebooks: number, frames: number): Promise<Float32Array>;
  /** The same decode, also returning the outputs of the listed decoder stages and the compute memory it used. */
  decodeCodes(
    model: NativeModel,
    codes: Int32Array,
    codebooks: number,
    frames: number,
    stages: number[],
  ): Promise<{ audio: Float32Array; stages: NativeDecodeStage[] } & NativeComputeBytes>;
  /**
   * The streaming EnCodec decoder (native/src/codec/stream.h) fed chunkFrames frames per push: `chunks` holds what
   * each push and then finish() returned; lookaheadFrames is its lookahead. With pushAfterFinish the first chunk is
   * pushed again after finish(), which must reject. The stream computes in a workspace of its own (computeBytes is
   * its own) unless reuseWorkspace takes one of the model's idle ones, as generation's streams do (for timing).
   */
  decodeCodesStreaming(
    model: NativeModel,
    codes: Int32Array,
    codebooks: number,
    frames: number,
    chunkFrames: number,
    pushAfterFinish?: boolean,
    reuseWorkspace?: boolean,
  ): Promise<{ chunks: Float32Array[]; lookaheadFrames: number } & NativeComputeBytes>;
  /**
   * bench/ only: one pass over the weight products of an LM decoding step (`rows` rows, `cond` of them through
   * cross-attention) run alone on the model's backend; median / min of `reps` passes (native/bench/lm-floor.h).
   */
  benchLmProducts(
    model: NativeModel,
    rows: number,
    cond: number,
    reps: number,
  ): Promise<{ weightBytes: number; products: number; macs: number; medianMs: number; minMs: number }>;
  /**
   * bench/ only: the CPU's multiply-adds per second on `threads` threads with the best instruction set the CPU
   * kernels have for it (f32 FMAs, or 8-bit dot products with `int8`); 0 without AVX2 (native/bench/lm-floor.h).
   */
  benchPeakMacs(int8: boolean, threads: number, reps: number): number;
  /**
   * bench/ only: the EnCodec decoder's multiply-adds per audio second (every convolution, transposed convolution and
   * LSTM product at its rate, counted from the model's codec hyper-parameters; lstmMacsPerSecond the LSTM's share),
   * and the bytes of LSTM weights it reads: the recurrent ones once per frame, the input ones once per chunk
   * (native/bench/decoder-floor.h).
   */
  benchDecoderCost(model: NativeModel): {
    frameRate: number;
    macsPerSecond: number;
    lstmMacsPerSecond: number;
    lstmRecurrentBytesPerFrame: number;
    lstmInputBytes: number;
  };
  /** bench/ only: memory copy bandwidth (bytes read + written per second), `mib` MiB by `threads` threads. */
  benchCopyBandwidth(mib: number, threads: number, reps: number): Promise<number>;
  /** bench/ only: the same figure for the memory of the device holding the model's weights (one ggml copy there). */
  benchDeviceCopyBandwidth(model: NativeModel, mib: number, reps: number): Promise<number>;
  /** bench/ only: each ggml device's free and total memory in bytes, as its driver reports them now. */
  benchDeviceMemory(): Array<{ name: string; free: number; total: number }>;
  /**
   * One random product (weights [nIn, nOut] of `type`, nCols columns, from `seed`) through a CPU kernel set
   * (native/src/runtime/cpu-matvec.h) and through ggml_mul_mat on the CPU backend: the largest difference between
   * the two, the largest |ggml's value|, and the largest difference from the exact product of the stored weights;
   * for f32 / f16, also the kernels' weighted sum of the rows (attention's values times probabilities) against the
   * exact sum (its largest difference, its largest value). Rejects (ERR_INVALID_ARG_VALUE) kernels this CPU does not run.
   */
  checkCpuMatvec(
    type: 'f32' | 'f16' | 'q8_0' | 'q4_K',
    nIn: number,
    nOut: number,
    nCols: number,
    kernels: 'scalar' | 'avx2' | 'avx512',
    seed: number,
  ): {
    maxAbsDiff: number;
    maxAbsRef: number;
    maxAbsExact: number;
    weightedSumExact: number;
    weightedSumRef: number;
    /** q8_0, q4_K: bytes of the set's quantised columns that differ from the scalar set's (0 otherwise). */
    quantizedMismatches: number;
    /** The set's GELU against the scalar set's (C library erf): largest difference over |input|, inputs in [-8, 8]. */
    geluDiff: number;
    /** The decoder's ELU through the set against the scalar set's: elements whose bits differ. */
    eluMismatches: number;
    convChecked: boolean;
    convMismatches: number;
    convExact: number;
    convRef: number;
  };
}

/** The loaded addon (native(): same object, same errors) seen through its diagnostics entry points. */
export function nativeDiagnostics(): NativeDiagnostics {
  return native() as unknown as NativeDiagnostics;
}
