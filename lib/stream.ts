// Streaming generation: audio chunks as the LM makes them, as an AsyncIterable (plus Node Readable and web
// ReadableStream adapters). The native side (native/addon/stream.cpp) runs the LM on its own thread, decodes
// each finished frame with exact streaming EnCodec decoders and hands over final samples every chunkFrames
// frames; it only produces while this side holds credits (HIGH_WATER_MARK chunks ahead of the consumer).
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { MusicGenError } from './errors';
import { resolveConditioning, type Conditioning } from './conditioning';
import { longFormPlan } from './long-form';
import {
  addConditioning,
  aborted,
  maxFrames,
  promptTokens,
  requestBudget,
  resolveGenerateRequest,
  type GenerateOptions,
} from './generate';
import { checkMemory, estimateMemory, STREAM_BUFFERED_CHUNKS } from './memory-budget';
import {
  native,
  type NativeChromaFeatures,
  type NativeGenerateOptions,
  type NativeModel,
  type NativeStreamChunk,
} from './native';
import { fromNative } from './native-errors';
import { integerIn, invalid, numberIn, plainObject, promptList } from './validate';

/** Default chunk size: 25 frames = 0.5 s at 50 Hz, so the first audio comes quickly. */
export const DEFAULT_CHUNK_FRAMES = 25;
// Chunks produced ahead of the consumer. Memory bound: HIGH_WATER_MARK * prompts * channels * chunkFrames *
// hopLength * 4 bytes, e.g. 2 * 1 * 1 * 25 * 640 * 4 = 128 KB for one mono prompt at the default chunk size.
const HIGH_WATER_MARK = STREAM_BUFFERED_CHUNKS;

export interface StreamOptions extends Omit<GenerateOptions, 'onProgress'> {
  /** Codec frames per chunk (at 50 Hz, 25 = 0.5 s; the default). Give this or `chunkSeconds`. */
  chunkFrames?: number;
  /** Seconds per chunk, rounded to whole frames (at least one). */
  chunkSeconds?: number;
}

/**
 * Final samples of one prompt. A chunk covers samples [startSample, startSample + frames) of every channel;
 * concatenating a prompt's chunks gives exactly what generate() returns. With several prompts, each native
 * step yields one chunk per prompt, in prompt order, all with the same startSample and length.
 */
export interface AudioChunk {
  /** One Float32Array per audio channel (1 mono, 2 stereo: [left, right]), `frames` samples each. */
  channels: Float32Array[];
  sampleRate: number;
  /** Offset of the first sample in the prompt's whole output. */
  startSample: number;
  /** Samples per channel in this chunk (audio frames, not codec frames). */
  frames: number;
  /** True on the prompt's last chunk. */
  final: boolean;
  /** Index of the prompt when several were given; absent for a single prompt string. */
  prompt?: number;
}

// Generate's checks and defaults plus the chunk size.
interface StreamRequest extends NativeGenerateOptions {
  chunkFrames: number;
  highWaterMark: number;
  longForm?: { window: number; stride: number; total: number; chroma?: Array<Array<NativeChromaFeatures | null>> };
}

function nativeOptions(handle: NativeModel, opts: Record<string, unknown>): StreamRequest {
  const limit = maxFrames(handle);
  const { frameRate } = handle.info();
  if (opts.chunkFrames !== undefined && opts.chunkSeconds !== undefined) {
    throw invalid('chunkFrames/chunkSeconds', 'at most one of chunkFrames or chunkSeconds', opts.chunkFrames);
  }
  const chunkFrames =
    opts.chunkSeconds !== undefined
      ? Math.max(
          1,
          Math.round(
            numberIn('chunkSeconds', opts.chunkSeconds, 0, limit / frameRate, { minExclusive: true }) * frameRate,
          ),
        )
      : opts.chunkFrames !== undefined
        ? integerIn('chunkFrames', opts.chunkFrames, 1, limit)
        : DEFAULT_CHUNK_FRAMES;
  const plan = longFormPlan(handle, opts);
  if (!plan) return { ...resolveGenerateRequest(handle, opts), chunkFrames, highWaterMark: HIGH_WATER_MARK };
  // Beyond one window: the native job chains windows (lib/long-form.ts explains how); `frames` is the first
  // window's new frames, set again once an audio prompt's length is known.
  const request = resolveGenerateRequest(handle, { ...opts, duration: undefined, frames: plan.window });
  const longForm: {
    window: number;
    stride: number;
    total: number;
    chroma?: Array<Array<NativeChromaFeatures | null>>;
  } = { window: plan.window, stride: plan.stride, total: plan.frames };
  return { ...request, chunkFrames, highWaterMark: HIGH_WATER_MARK, longForm };
}

// Start times (seconds) of the windows after the first, for `total` output frames (audio prompt included).
function laterWindowStarts(window: number, stride: number, total: number, frameRate: number): number[] {
  const starts: number[] = [];
  for (let have = window; have < total; have += Math.min(stride, total - have)) {
    starts.push((have - (window - stride)) / frameRate);
  }
  return starts;
}

/** What MusicGen.stream() needs from its model: the handle, and a way to be told about dispose(). */
export interface StreamOwner {
  handle(): NativeModel;
  /** Registers cancel(error) to run on dispose(); returns the unregister function. */
  track(cancel: (error: MusicGenError) => void): () => void;
}

/**
 * The stream behind MusicGen.stream(): validates at once, starts the native job at the first next().
 * Leaving a `for await` early (return()) aborts the job; a failure rejects the pending next() once, after
 * the chunks already received, and the iterator is done afterwards.
 */
export class AudioStream implements AsyncIterableIterator<AudioChunk> {
  readonly #owner: StreamOwner;
  readonly #prompts: string[];
  readonly #single: boolean;
  readonly #request: ReturnType<typeof nativeOptions>;
  readonly #sampleRate: number;
  readonly #signal: AbortSignal | undefined;
  #job: ReturnType<ReturnType<typeof native>['stream']> | undefined;
  // Chunks received but not taken; `credit` marks the last chunk of a native message (taking it grants one).
  readonly #ready: Array<{ chunk: AudioChunk; credit: boolean }> = [];
  readonly #waiting: Array<{ resolve(r: IteratorResult<AudioChunk>): void; reject(e: unknown): void }> = [];
  #failure: unknown;
  #ended = false; // no more chunks will arrive (final chunk, failure or cancellation)
  #untrack: (() => void) | undefined;
  // Resolves melody / audioPrompt (file reads, chroma, EnCodec encoding) before the native job starts.
  #conditioning: (() => Promise<Conditioning>) | undefined;
  #preparing = false;
  // Memory budget of this request and the padded T5 length of its prompts (lib/memory-budget.ts).
  readonly #budget: number;
  readonly #textTokens: number;
  readonly #onAbort = () => this.#cancel(aborted(this.#signal!));

  constructor(owner: StreamOwner, prompts: string | string[], options: StreamOptions = {}) {
    this.#owner = owner;
    this.#prompts = promptList(prompts);
    this.#single = typeof prompts === 'string';
    const opts = plainObject('options', options);
    if (opts.onProgress !== undefined)
      throw invalid('onProgress', 'no onProgress (chunks report progress)', opts.onProgress);
    const handle = owner.handle();
    this.#sampleRate = handle.info().sampleRate;
    const withLength = opts.duration === undefined && opts.frames === undefined ? { ...opts, duration: 10 } : opts;
    this.#request = nativeOptions(handle, withLength);
    this.#textTokens = promptTokens(handle, prompts);
    this.#budget = requestBudget(handle, opts);
    this.#checkMemory(handle, 0); // an audio prompt's frames are checked again once it is encoded
    if (opts.melody !== undefined || opts.audioPrompt !== undefined) {
      const count = this.#prompts.length;
      const longForm = this.#request.longForm;
      this.#conditioning = async () => {
        const conditioning = await resolveConditioning(handle, count, opts);
        if (longForm && conditioning.chromaAt) {
          const { frameRate } = handle.info();
          const total = (conditioning.promptCodes?.frames ?? 0) + longForm.total;
          const starts = laterWindowStarts(longForm.window, longForm.stride, total, frameRate);
          longForm.chroma = [];
          for (const start of starts)
            longForm.chroma.push(await conditioning.chromaAt(start, longForm.window / frameRate));
        }
        return conditioning;
      };
    }
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal', 'an AbortSignal', signal);
    this.#signal = signal;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<AudioChunk>> {
    if (!this.#job && !this.#ended && !this.#preparing) this.#start();
    const item = this.#ready.shift();
    if (item) {
      if (item.credit && !this.#ended) this.#job!.pull(1);
      return Promise.resolve({ value: item.chunk, done: false });
    }
    if (this.#failure !== undefined) {
      const failure = this.#failure;
      this.#failure = undefined;
      return Promise.reject(failure);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Stops the generation (leaving `for await` early calls this). */
  async return(): Promise<IteratorResult<AudioChunk>> {
    this.#finish();
    this.#ready.length = 0;
    this.#failure = undefined;
    for (const w of this.#waiting.splice(0)) w.resolve({ value: undefined, done: true });
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<AudioChunk>> {
    await this.return();
    throw error;
  }

  // Refuses (ERR_MUSICGEN_MEMORY_BUDGET) a stream whose LM session and buffered chunks exceed the budget.
  #checkMemory(handle: NativeModel, promptFrames: number): void {
    const { frames, longForm, chunkFrames, guidanceScale } = this.#request;
    checkMemory(
      estimateMemory(handle.info(), {
        prompts: this.#prompts.length,
        textTokens: this.#textTokens,
        guided: (guidanceScale as number) > 1,
        windowFrames: longForm ? longForm.window : promptFrames + frames,
        outputFrames: promptFrames + (longForm ? longForm.total : frames),
        decode: 'stream',
        chunkFrames,
      }),
      this.#budget,
      'stream()',
    );
  }

  #start(): void {
    if (this.#signal?.aborted) {
      this.#ended = true;
      this.#fail(aborted(this.#signal));
      return;
    }
    const prepare = this.#conditioning;
    if (prepare) {
      this.#conditioning = undefined;
      this.#preparing = true;
      prepare().then(
        ({ promptCodes, chroma }) => {
          this.#preparing = false;
          if (this.#ended) return;
          try {
            if (this.#request.longForm && promptCodes) {
              this.#request.frames = Math.max(1, this.#request.longForm.window - promptCodes.frames);
            }
            addConditioning(this.#owner.handle(), this.#prompts.length, this.#request, promptCodes, chroma);
            this.#checkMemory(this.#owner.handle(), promptCodes?.frames ?? 0);
          } catch (error) {
            this.#ended = true;
            this.#fail(error);
            return;
          }
          this.#start();
        },
        (error: unknown) => {
          this.#preparing = false;
          if (this.#ended) return;
          this.#ended = true;
          this.#fail(fromNative(error));
        },
      );
      return;
    }
    let handle: NativeModel;
    try {
      handle = this.#owner.handle();
      this.#job = native().stream(handle, this.#prompts, this.#request, (message) => this.#receive(message));
    } catch (error) {
      this.#ended = true;
      this.#fail(fromNative(error));
      return;
    }
    this.#untrack = this.#owner.track((error) => this.#cancel(error));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #receive(message: NativeStreamChunk | Error): void {
    if (this.#ended) return; // cancelled meanwhile: the job's own abort error or late chunks
    if (message instanceof Error) {
      this.#finish();
      this.#fail(fromNative(message));
      return;
    }
    const frames = message.audio[0]![0]!.length;
    message.audio.forEach((channels, prompt) => {
      const chunk: AudioChunk = {
        channels,
        sampleRate: this.#sampleRate,
        startSample: message.startSample,
        frames,
        final: message.final,
      };
      if (!this.#single) chunk.prompt = prompt;
      const credit = prompt === message.audio.length - 1;
      const waiter = this.#waiting.shift();
      if (!waiter) {
        this.#ready.push({ chunk, credit });
        return;
      }
      if (credit && !message.final) this.#job!.pull(1);
      waiter.resolve({ value: chunk, done: false });
    });
    if (message.final) {
      this.#finish();
      for (const w of this.#waiting.splice(0)) w.resolve({ value: undefined, done: true });
    }
  }

  // Abort, signal or dispose(): buffered chunks are dropped, the next (or pending) next() rejects.
  #cancel(error: MusicGenError): void {
    if (this.#ended) return;
    this.#finish();
    this.#ready.length = 0;
    this.#fail(error);
  }

  #fail(error: unknown): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.reject(error);
    else this.#failure = error;
    for (const w of this.#waiting.splice(0)) w.resolve({ value: undefined, done: true });
  }

  // No more chunks: stop the native job (a no-op once it ended) and drop the listeners.
  #finish(): void {
    this.#ended = true;
    this.#job?.abort();
    this.#untrack?.();
    this.#untrack = undefined;
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }
}

/** A Node Readable (objectMode) of the chunks; destroying it stops the generation. */
export function toReadable(stream: AsyncIterable<AudioChunk>): Readable {
  // highWaterMark 1: read ahead no further than the native stream already does.
  return Readable.from(stream, { objectMode: true, highWaterMark: 1 });
}

/** A web ReadableStream of the chunks; cancel() stops the generation. */
export function toWebStream(stream: AsyncIterable<AudioChunk>): ReadableStream<AudioChunk> {
  const iterator = stream[Symbol.asyncIterator]();
  return new ReadableStream<AudioChunk>(
    {
      async pull(controller) {
        const result = await iterator.next();
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}
