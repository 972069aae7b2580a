// The public entry point: MusicGen.load() a converted GGUF model, read what it is, tokenize prompts,
// dispose() it. Options are checked here (sharp-style messages); the file is validated natively.
import { decodeCodes, type CodeMatrix } from './decode-codes';
import { encodeText, type EncodedText } from './encode-text';
import { MusicGenError } from './errors';
import type { GenerateOptions } from './generate';
import { runToEnd } from './generation-job';
import { defaultMemoryBudget, memoryBudgetOption } from './memory-budget';
import { createModelContext, type ModelContext } from './model-context';
import { native, type NativeHparams, type NativeModel, type NativeModelInfo, type NativeTensorInfo } from './native';
import { fromNative } from './native-errors';
import { AudioStream, type StreamOptions } from './stream';
import { integerIn, oneOf, plainObject, string } from './validate';

export const BACKENDS = ['auto', 'cpu', 'cuda', 'vulkan', 'metal'] as const;
export type Backend = (typeof BACKENDS)[number];
export const KV_CACHE_TYPES = ['auto', 'f32', 'f16'] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

export interface LoadOptions {
  /** Compute device: 'auto' (default) picks the best GPU ggml was built with, else the CPU. */
  backend?: Backend;
  /** CPU threads, 1..512; default one per hardware thread. */
  threads?: number;
  /**
   * Element type of the LM's self-attention K/V cache, which a step reads in full: 'auto' (default) keeps f32 for
   * f32 weights (results match the reference to float rounding) and takes f16 for f16 and quantized weights (half
   * the cache bytes: the cache is as large as the weights after ~1000 frames of musicgen-small; its rounding is
   * smaller than the weights' own, docs/performance.md); 'f32' / 'f16' choose. `info.kvCache` says which.
   */
  kvCache?: KvCacheType;
  /**
   * Bytes one generate() / stream() request may allocate (KV cache, output, decoder working memory; estimated
   * up front, docs/bad-input.md#memory-budget). Default os.totalmem(); Infinity turns the check off. A request
   * over it fails with ERR_MUSICGEN_MEMORY_BUDGET before any work; `memoryBudget` per request overrides it.
   */
  memoryBudget?: number;
}

/** Hyper-parameters as stored in the file's musicgen.* keys (docs/gguf-format.md). */
export type ModelHyperParameters = NativeHparams;

export interface ModelInfo extends NativeModelInfo {
  /** 'text' (cross-attention to the prompt) or 'melody' (chroma + text prefix). */
  variant: 'text' | 'melody';
  /** Output channels: 1 mono, 2 stereo. */
  channels: number;
  /** Longest generation the model's defaults allow, in seconds (generation max_length / frameRate). */
  maxDuration: number;
  /** The ggml backend the weights live on, e.g. 'CPU' or 'CUDA0'. */
  backend: string;
}

export interface TensorInfo extends NativeTensorInfo {
  /** ggml type name: 'f32', 'f16', 'q8_0', 'q4_0', 'q4_K'. */
  type: string;
  /** Dimensions in ggml order (fastest-varying first). */
  shape: number[];
  /** Byte offset relative to `dataOffset`. */
  offset: number;
}

export interface ModelInspection {
  /** Every GGUF key; arrays longer than 64 entries are summarised as `{ type, length }`. */
  metadata: Record<string, unknown>;
  tensors: TensorInfo[];
  fileBytes: number;
  /** Start of the tensor data section in the file. */
  dataOffset: number;
}

function modelPath(value: unknown): string {
  const path = string('path', value);
  if (path.length === 0) throw new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', 'Expected a non-empty string for path');
  return path;
}

/** What generate() returns for one prompt. */
export interface GenerationResult {
  sampleRate: number;
  /** One Float32Array per audio channel (1 mono, 2 stereo: [left, right]), frames * hop samples each. */
  channels: Float32Array[];
  /** The undelayed codes the audio was decoded from: [codebooks, frames] row-major. */
  codes: CodeMatrix;
  /** The seed used (the random default included): pass it back to reproduce the run. */
  seed: number;
}

export class MusicGen {
  readonly #context: ModelContext;
  readonly #dispose: () => void;
  #disposed = false;

  private constructor(model: NativeModel, memoryBudget: number) {
    const { context, dispose } = createModelContext(model, memoryBudget);
    this.#context = context;
    this.#dispose = dispose;
  }

  /** Loads a GGUF file written by musicgen-convert; the file is read on a worker thread. */
  static async load(path: string, options: LoadOptions = {}): Promise<MusicGen> {
    const file = modelPath(path);
    const opts = plainObject('options', options);
    const nativeOptions: { backend?: string; threads?: number; kvCache?: string } = {};
    if (opts.backend !== undefined) nativeOptions.backend = oneOf('backend', opts.backend, BACKENDS);
    if (opts.threads !== undefined) nativeOptions.threads = integerIn('threads', opts.threads, 1, 512);
    if (opts.kvCache !== undefined) nativeOptions.kvCache = oneOf('kvCache', opts.kvCache, KV_CACHE_TYPES);
    const memoryBudget =
      opts.memoryBudget === undefined ? defaultMemoryBudget() : memoryBudgetOption('memoryBudget', opts.memoryBudget);
    try {
      return new MusicGen(await native().loadModel(file, nativeOptions), memoryBudget);
    } catch (error) {
      throw fromNative(error, file);
    }
  }

  /** Validates a model file exactly like load() and lists its metadata and tensors, without loading weights. */
  static inspect(path: string): ModelInspection {
    const file = modelPath(path);
    try {
      return native().inspect(file);
    } catch (error) {
      throw fromNative(error, file);
    }
  }

  /** What the model is, derived from the file's metadata. */
  get info(): ModelInfo {
    this.#handle();
    return this.#context.info as ModelInfo;
  }

  /** T5 token ids of a prompt exactly as Hugging Face's T5Tokenizer gives them (EOS appended). */
  tokenize(text: string): Int32Array {
    const model = this.#handle();
    const prompt = string('text', text);
    try {
      return model.tokenize(prompt);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /**
   * Generates music for one prompt (→ one result) or a batch of prompts (→ an array, one pass for all).
   * Runs off the JS thread; `signal` aborts within one LM step with ERR_MUSICGEN_ABORTED.
   */
  generate(prompt: string, options?: GenerateOptions): Promise<GenerationResult>;
  generate(prompts: string[], options?: GenerateOptions): Promise<GenerationResult[]>;
  async generate(
    prompts: string | string[],
    options: GenerateOptions = {},
  ): Promise<GenerationResult | GenerationResult[]> {
    this.#handle();
    const { sampleRate } = this.#context.info;
    const results = (await runToEnd(this.#context, prompts, options, true)).map(
      ({ channels, codes: { seed, ...codes } }): GenerationResult => ({ sampleRate, channels, codes, seed }),
    );
    return typeof prompts === 'string' ? results[0]! : results;
  }

  /**
   * Generates like generate() but yields audio as it is made: AudioChunks of `chunkFrames` codec frames (default
   * 25 = 0.5 s; the first chunk `firstChunkFrames`, default 8, so the first audio comes sooner), one per prompt per
   * step for a batch. Leaving `for await` early, `signal` or dispose() stops
   * the generation; the latter two reject the pending iteration (ERR_MUSICGEN_ABORTED / ERR_MUSICGEN_DISPOSED).
   * Invalid options throw here, before any work; generation starts at the first next().
   */
  stream(prompts: string | string[], options?: StreamOptions): AudioStream {
    this.#handle();
    return new AudioStream(this.#context, prompts, options);
  }

  /** T5 encoder states of the prompts (raw and projected to the LM width) with their mask, as HF computes them. */
  encodeText(prompts: string | string[]): Promise<EncodedText> {
    return encodeText(this.#handle(), prompts);
  }

  /** Audio of undelayed codes ([codebooks, frames]) through the model's EnCodec decoder. */
  async decodeCodes(codes: CodeMatrix): Promise<{ sampleRate: number; channels: Float32Array[] }> {
    return { sampleRate: this.#context.info.sampleRate, channels: await decodeCodes(this.#context, codes) };
  }

  /** Frees the weights and backends. Idempotent; any later use throws ERR_MUSICGEN_DISPOSED. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  #handle(): NativeModel {
    return this.#context.handle();
  }
}
