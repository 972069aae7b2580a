// The public entry point: MusicGen.load() a converted GGUF model, read what it is, tokenize prompts,
// dispose() it. Options are checked here (sharp-style messages); the file is validated natively.
import { ModelError, MusicGenError, type MusicGenErrorCode } from './errors';
import { native, type NativeHparams, type NativeModel, type NativeModelInfo, type NativeTensorInfo } from './native';
import { integerIn, oneOf, plainObject, string } from './validate';

export const BACKENDS = ['auto', 'cpu', 'cuda', 'metal'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface LoadOptions {
  /** Compute device: 'auto' (default) picks the best GPU ggml was built with, else the CPU. */
  backend?: Backend;
  /** CPU threads, 1..512; default one per hardware thread. */
  threads?: number;
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

const MODEL_CODES: readonly MusicGenErrorCode[] = ['ERR_MUSICGEN_MODEL_INVALID', 'ERR_MUSICGEN_MODEL_NOT_FOUND'];

// Native errors carry a `code`; model-file problems become ModelError naming the file.
function fromNative(error: unknown, file?: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== 'string' || !code.startsWith('ERR_MUSICGEN_')) return error;
  if (file !== undefined && MODEL_CODES.includes(code as MusicGenErrorCode)) {
    return new ModelError(code as 'ERR_MUSICGEN_MODEL_INVALID' | 'ERR_MUSICGEN_MODEL_NOT_FOUND', file, error.message);
  }
  return new MusicGenError(code as MusicGenErrorCode, error.message, { cause: error });
}

function modelPath(value: unknown): string {
  const path = string('path', value);
  if (path.length === 0) throw new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', 'Expected a non-empty string for path');
  return path;
}

export class MusicGen {
  #model: NativeModel | undefined;
  readonly #info: ModelInfo;

  private constructor(model: NativeModel) {
    this.#model = model;
    this.#info = Object.freeze(model.info()) as ModelInfo;
  }

  /** Loads a GGUF file written by musicgen-convert; the file is read on a worker thread. */
  static async load(path: string, options: LoadOptions = {}): Promise<MusicGen> {
    const file = modelPath(path);
    const opts = plainObject('options', options);
    const nativeOptions: { backend?: string; threads?: number } = {};
    if (opts.backend !== undefined) nativeOptions.backend = oneOf('backend', opts.backend, BACKENDS);
    if (opts.threads !== undefined) nativeOptions.threads = integerIn('threads', opts.threads, 1, 512);
    try {
      return new MusicGen(await native().loadModel(file, nativeOptions));
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
    return this.#info;
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

  /** Frees the weights and backends. Idempotent; any later use throws ERR_MUSICGEN_DISPOSED. */
  dispose(): void {
    this.#model?.dispose();
    this.#model = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  #handle(): NativeModel {
    if (!this.#model) throw new MusicGenError('ERR_MUSICGEN_DISPOSED', 'This MusicGen model has been disposed');
    return this.#model;
  }
}
