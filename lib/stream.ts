// The one generation job seen from JS: AudioStream runs the native pipeline (native/addon/generation-job.cpp) and
// yields its chunks as an AsyncIterable. MusicGen.stream() returns it; MusicGen.generate() is the same job asked
// for one chunk with the codes, collected (lib/generation-job.ts). The native side only produces while this side
// holds credits (highWaterMark chunks ahead of the consumer). Node Readable and web ReadableStream adapters too.
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { resolveConditioning, type Conditioning } from './conditioning';
import { MusicGenError } from './errors';
import {
  checkRequestMemory,
  drawSeed,
  maxFrames,
  resolveRequest,
  STREAM_BUFFERED_CHUNKS,
  type Delivery,
  type GenerateOptions,
  type ResolvedRequest,
} from './generate';
import type { ModelContext } from './model-context';
import { native, type NativeChunk, type NativeGenerationJob } from './native';
import { fromNative } from './native-errors';
import { integerIn, invalid, numberIn, plainObject, promptList } from './validate';

/** Default chunk size: 25 frames = 0.5 s at 50 Hz. */
export const DEFAULT_CHUNK_FRAMES = 25;
/**
 * Default size of the first chunk: 8 frames (0.16 s at 50 Hz, of which the decoder's 4-frame lookahead holds back
 * about half until the next chunk), so the first audio arrives after ~11 LM steps instead of ~28 (docs/streaming.md).
 */
export const DEFAULT_FIRST_CHUNK_FRAMES = 8;

export interface StreamOptions extends Omit<GenerateOptions, 'onProgress'> {
  /** Codec frames per chunk (at 50 Hz, 25 = 0.5 s; the default). Give this or `chunkSeconds`. */
  chunkFrames?: number;
  /** Seconds per chunk, rounded to whole frames (at least one). */
  chunkSeconds?: number;
  /**
   * Codec frames of the first chunk, 1..the chunk size (default 8, or the chunk size when that is smaller): a short
   * first chunk brings the first audio sooner. Give the chunk size for equal chunks throughout.
   */
  firstChunkFrames?: number;
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

/** How a job was asked for (generate(), stream() or codes only) beyond the public options. */
export interface JobKind {
  delivery: Delivery;
  /** After every LM step (generate()'s onProgress). */
  onStep?: (step: number, total: number) => void;
  /** Internal callers that already hold the conditioning (tests, tools): used instead of melody/audioPrompt. */
  conditioning?: Conditioning;
  /** Receives the codes of the final chunk ([prompt, codebook, frames]). */
  onCodes?: (codes: Int32Array, frames: number) => void;
}

function aborted(signal: AbortSignal): MusicGenError {
  return new MusicGenError('ERR_MUSICGEN_ABORTED', 'The generation was aborted', { cause: signal.reason });
}

function chunkDelivery(context: ModelContext, opts: Record<string, unknown>): Delivery {
  const chunkFrames = chunkFramesOption(context, opts);
  const firstChunkFrames =
    opts.firstChunkFrames !== undefined
      ? integerIn('firstChunkFrames', opts.firstChunkFrames, 1, chunkFrames)
      : Math.min(DEFAULT_FIRST_CHUNK_FRAMES, chunkFrames);
  return { kind: 'chunks', chunkFrames, firstChunkFrames };
}

function chunkFramesOption(context: ModelContext, opts: Record<string, unknown>): number {
  const limit = maxFrames(context.info);
  const { frameRate } = context.info;
  if (opts.chunkFrames !== undefined && opts.chunkSeconds !== undefined) {
    throw invalid('chunkFrames/chunkSeconds', 'at most one of chunkFrames or chunkSeconds', opts.chunkFrames);
  }
  if (opts.chunkSeconds !== undefined) {
    const seconds = numberIn('chunkSeconds', opts.chunkSeconds, 0, limit / frameRate, { minExclusive: true });
    return Math.max(1, Math.round(seconds * frameRate));
  }
  return opts.chunkFrames !== undefined ? integerIn('chunkFrames', opts.chunkFrames, 1, limit) : DEFAULT_CHUNK_FRAMES;
}

// Start times (seconds) of the windows after the first, for `total` output frames (audio prompt included).
function laterWindowStarts(window: number, stride: number, total: number, frameRate: number): number[] {
  const starts: number[] = [];
  for (let have = window; have < total; have += Math.min(stride, total - have)) {
    starts.push((have - (window - stride)) / frameRate);
  }
  return starts;
}

/**
 * The stream behind MusicGen.stream() (and generate()): validates at once, starts the native job at the first
 * next(). Leaving a `for await` early (return()) aborts the job; a failure rejects the pending next() once, after
 * the chunks already received, and the iterator is done afterwards.
 */
export class AudioStream implements AsyncIterableIterator<AudioChunk> {
  readonly #context: ModelContext;
  readonly #single: boolean;
  readonly #request: ResolvedRequest;
  readonly #kind: JobKind;
  readonly #signal: AbortSignal | undefined;
  #job: NativeGenerationJob | undefined;
  // Chunks received but not taken; `credit` marks the last chunk of a native message (taking it grants one).
  readonly #ready: Array<{ chunk: AudioChunk; credit: boolean }> = [];
  readonly #waiting: Array<{ resolve(r: IteratorResult<AudioChunk>): void; reject(e: unknown): void }> = [];
  #failure: unknown;
  #ended = false; // no more chunks will arrive (final chunk, failure or cancellation)
  #untrack: (() => void) | undefined;
  // Resolves melody / audioPrompt (file reads, chroma, EnCodec encoding) before the native job starts.
  #conditioning: (() => Promise<Conditioning>) | undefined;
  #preparing = false;
  readonly #onAbort = () => this.#cancel(aborted(this.#signal!));

  constructor(context: ModelContext, prompts: string | string[], options: StreamOptions = {}, kind?: JobKind) {
    this.#context = context;
    this.#single = typeof prompts === 'string';
    const count = promptList(prompts).length;
    const opts = plainObject('options', options);
    if (!kind && opts.onProgress !== undefined)
      throw invalid('onProgress', 'no onProgress (chunks report progress)', opts.onProgress);
    this.#kind = kind ?? { delivery: chunkDelivery(context, opts) };
    this.#request = resolveRequest(context, prompts, opts, this.#kind.delivery, drawSeed());
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal', 'an AbortSignal', signal);
    this.#signal = signal;
    const given = this.#kind.conditioning;
    if (given) {
      this.#conditioning = async () => given;
    } else if (opts.melody !== undefined || opts.audioPrompt !== undefined) {
      this.#conditioning = () => resolveConditioning(context.handle(), count, opts);
    }
  }

  /** The seed the job samples with (the option, or the default drawn for this request). */
  get seed(): number {
    return this.#request.seed;
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

  // Adds the audio prompt and chroma to the native request, checking counts, length and memory again.
  async #condition(conditioning: Conditioning): Promise<void> {
    const { promptCodes, chroma, chromaAt } = conditioning;
    const { native: request, longForm, tokens } = this.#request;
    const { info } = this.#context;
    if (promptCodes !== undefined) {
      if (promptCodes.data.length !== tokens.length * info.codebooks * promptCodes.frames) {
        throw invalid('audioPrompt', `one audio prompt per text prompt (${tokens.length})`, promptCodes.data.length);
      }
      if (longForm) {
        if (promptCodes.frames >= longForm.window)
          throw invalid('audioPrompt', `shorter than the window (${longForm.window} frames)`, promptCodes.frames);
      } else {
        const limit = maxFrames(info) - promptCodes.frames;
        if (request.frames > limit) {
          const what = limit < 1 ? 'a shorter audio prompt' : `at most ${limit} new frames after the audio prompt`;
          throw invalid('duration/frames', what, request.frames);
        }
      }
      request.promptCodes = promptCodes.data;
      request.promptFrames = promptCodes.frames;
    }
    if (chroma !== undefined) {
      if (chroma.length !== tokens.length)
        throw invalid('melody', `one entry per prompt (${tokens.length})`, chroma.length);
      request.chroma = chroma;
    }
    if (longForm && chromaAt && request.longForm) {
      const total = (promptCodes?.frames ?? 0) + longForm.frames;
      request.longForm.chroma = [];
      for (const start of laterWindowStarts(longForm.window, longForm.stride, total, info.frameRate))
        request.longForm.chroma.push(await chromaAt(start, longForm.window / info.frameRate));
    }
    checkRequestMemory(this.#context, this.#request, promptCodes?.frames ?? 0);
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
      prepare()
        .then((conditioning) => this.#condition(conditioning))
        .then(
          () => {
            this.#preparing = false;
            if (!this.#ended) this.#start();
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
    const { delivery, onStep } = this.#kind;
    const options = {
      ...this.#request.native,
      chunkFrames: delivery.kind === 'chunks' ? delivery.chunkFrames : 0,
      firstChunkFrames: delivery.kind === 'chunks' ? delivery.firstChunkFrames : 0,
      highWaterMark: delivery.kind === 'chunks' ? STREAM_BUFFERED_CHUNKS : 1,
      codes: delivery.kind !== 'chunks',
      audio: delivery.kind !== 'codes',
    };
    try {
      this.#job = native().generate(
        this.#context.handle(),
        this.#request.tokens,
        options,
        (message, total) => this.#receive(message, total),
        onStep !== undefined,
      );
    } catch (error) {
      this.#ended = true;
      this.#fail(fromNative(error));
      return;
    }
    this.#untrack = this.#context.track((error) => this.#cancel(error));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #receive(message: NativeChunk | Error | number, total?: number): void {
    if (this.#ended) return; // cancelled meanwhile: the job's own abort error or late chunks
    if (typeof message === 'number') {
      try {
        this.#kind.onStep?.(message, total!);
      } catch (error) {
        // A throwing progress callback stops the run and becomes its rejection.
        this.#finish();
        this.#fail(error);
      }
      return;
    }
    if (message instanceof Error) {
      this.#finish();
      this.#fail(fromNative(message));
      return;
    }
    if (message.codes) this.#kind.onCodes?.(message.codes, message.frames!);
    const { sampleRate } = this.#context.info;
    const prompts = message.audio.length > 0 ? message.audio : this.#request.tokens.map(() => []);
    prompts.forEach((channels, prompt) => {
      const chunk: AudioChunk = {
        channels,
        sampleRate,
        startSample: message.startSample,
        frames: channels[0]?.length ?? 0,
        final: message.final,
      };
      if (!this.#single) chunk.prompt = prompt;
      const credit = prompt === prompts.length - 1;
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
