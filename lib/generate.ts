// Text-to-codes generation: option checks and defaults, then the native LM loop (delay pattern,
// classifier-free guidance, sampling) on a worker thread. Audio comes from the EnCodec decoder afterwards.
import { randomInt } from 'node:crypto';
import type { ConditioningOptions } from './conditioning';
import type { LongFormOptions } from './long-form';
import { MusicGenError } from './errors';
import { fromNative } from './native-errors';
import { native, type NativeChromaFeatures, type NativeGenerateOptions, type NativeModel } from './native';
import type { PromptCodes } from './encode-audio';
import { integerIn, invalid, numberIn, plainObject, promptList } from './validate';
import { checkMemory, estimateMemory, memoryBudgetOption, modelBudget } from './memory-budget';

export interface GenerateOptions extends ConditioningOptions {
  /** Seconds of audio; frames = round(duration * frameRate). Give this or `frames`. */
  duration?: number;
  /** Codec frames to generate (frameRate per second). Give this or `duration`. */
  frames?: number;
  /** Keep the k most likely codes per step: 0 = all, 1 = greedy. Default 250. */
  topK?: number;
  /** Nucleus sampling threshold in [0, 1]; 0 (default) disables it. */
  topP?: number;
  /** Softmax temperature, > 0. Default 1. */
  temperature?: number;
  /** Classifier-free guidance scale, >= 0; <= 1 disables guidance. Default 3 (paper, audiocraft). */
  guidanceScale?: number;
  /** Sampling seed, a non-negative safe integer; the same seed gives the same codes. Default random. */
  seed?: number;
  /** Beyond the model's window (30 s): how windows overlap (generate() only; see docs/long-form.md). */
  longForm?: LongFormOptions;
  /** Aborting rejects the generation with ERR_MUSICGEN_ABORTED within one LM step. */
  signal?: AbortSignal;
  /** Called after every LM step (totalSteps = frames + codebook groups - 1). */
  onProgress?: (progress: GenerateProgress) => void;
  /**
   * Bytes this request may allocate (default: the model's, from MusicGen.load; Infinity = no limit). Requests
   * estimated above it fail with ERR_MUSICGEN_MEMORY_BUDGET before any work (docs/bad-input.md#memory-budget).
   */
  memoryBudget?: number;
}

export interface GenerateProgress {
  step: number;
  totalSteps: number;
  elapsedMs: number;
}

/** Codes of one prompt, undelayed: [codebooks, frames] row-major, ready for the EnCodec decoder. */
export interface GeneratedCodes {
  data: Int32Array;
  codebooks: number;
  frames: number;
  /** The seed that produced them (the random default included), to reproduce the run. */
  seed: number;
}

/** Longest prompt the native T5 encoder takes, in tokens (native/src/text-conditioning.cpp max_prompt_tokens). */
export const MAX_PROMPT_TOKENS = 2048;

/**
 * T5 tokens (EOS included) of the longest prompt, i.e. the batch's padded text length. Prompts are never
 * truncated: one over MAX_PROMPT_TOKENS is refused here, naming it, before any work.
 */
export function promptTokens(handle: NativeModel, prompts: string | string[]): number {
  const list = promptList(prompts);
  let longest = 0;
  list.forEach((prompt, i) => {
    let tokens: number;
    try {
      tokens = handle.tokenize(prompt).length;
    } catch (error) {
      throw fromNative(error);
    }
    if (tokens > MAX_PROMPT_TOKENS) {
      const name = typeof prompts === 'string' ? 'prompts' : `prompts[${i}]`;
      throw new MusicGenError(
        'ERR_MUSICGEN_INVALID_OPTION',
        `Expected a prompt of at most ${MAX_PROMPT_TOKENS} T5 tokens for ${name} but received ${tokens} tokens ` +
          `(${prompt.length} characters); prompts are not truncated, shorten it`,
      );
    }
    longest = Math.max(longest, tokens);
  });
  return longest;
}

/** The byte budget of a request: its memoryBudget option, else the model's. */
export function requestBudget(handle: NativeModel, opts: Record<string, unknown>): number {
  return opts.memoryBudget === undefined ? modelBudget(handle) : memoryBudgetOption('memoryBudget', opts.memoryBudget);
}

/**
 * Refuses (ERR_MUSICGEN_MEMORY_BUDGET) a generate() request whose estimated peak memory exceeds its budget:
 * `windowFrames` LM positions (audio prompt + new frames, or the long-form window) and `outputFrames` frames of
 * audio per prompt, decoded whole.
 */
export function checkGenerateMemory(
  handle: NativeModel,
  prompts: string | string[],
  opts: Record<string, unknown>,
  guidanceScale: number,
  windowFrames: number,
  outputFrames: number,
): void {
  const budget = requestBudget(handle, opts);
  const estimate = estimateMemory(handle.info(), {
    prompts: promptList(prompts).length,
    textTokens: promptTokens(handle, prompts),
    guided: guidanceScale > 1,
    windowFrames,
    outputFrames,
    decode: 'whole',
  });
  checkMemory(estimate, budget, 'generate()');
}

/** Disposal signal of each model (set by MusicGen): dispose() ends a running generation with its reason. */
export const disposals = new WeakMap<NativeModel, AbortSignal>();

// The largest seed randomInt can draw (its range must stay below 2^48).
const RANDOM_SEED_LIMIT = 2 ** 48 - 1;

/** The maximum number of frames the model's position table allows (the last of frames + groups - 1 steps
 * must stay inside it). */
export function maxFrames(handle: NativeModel): number {
  const info = handle.info();
  return info.hparams.lm.maxPosition - info.codebooks / info.channels + 1;
}

/**
 * Checks the length and sampling options shared by generate() and stream() and fills the defaults (random
 * seed included). Throws ERR_MUSICGEN_INVALID_OPTION naming the first bad option.
 */
export function resolveGenerateRequest(
  handle: NativeModel,
  opts: Record<string, unknown>,
  limit = maxFrames(handle),
): NativeGenerateOptions {
  const info = handle.info();
  const { lm } = info.hparams;
  if ((opts.duration === undefined) === (opts.frames === undefined)) {
    throw invalid('duration/frames', 'exactly one of duration (seconds) or frames', opts.duration ?? opts.frames);
  }
  let frames: number;
  if (opts.duration !== undefined) {
    const duration = numberIn('duration', opts.duration, 0, limit / info.frameRate, { minExclusive: true });
    frames = Math.round(duration * info.frameRate);
    if (frames < 1) throw invalid('duration', `at least one frame (${1 / info.frameRate} s)`, duration);
  } else {
    frames = integerIn('frames', opts.frames, 1, limit);
  }
  return {
    frames,
    topK: opts.topK === undefined ? 250 : integerIn('topK', opts.topK, 0, lm.codebookSize),
    topP: opts.topP === undefined ? 0 : numberIn('topP', opts.topP, 0, 1),
    temperature:
      opts.temperature === undefined
        ? 1
        : numberIn('temperature', opts.temperature, 0, Number.MAX_VALUE, { minExclusive: true }),
    guidanceScale:
      opts.guidanceScale === undefined ? 3 : numberIn('guidanceScale', opts.guidanceScale, 0, Number.MAX_VALUE),
    seed:
      opts.seed === undefined ? randomInt(RANDOM_SEED_LIMIT) : integerIn('seed', opts.seed, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** Adds audio-prompt codes and/or chroma (one per prompt) to a native request, checking counts and length. */
export function addConditioning(
  handle: NativeModel,
  count: number,
  request: NativeGenerateOptions,
  promptCodes?: PromptCodes,
  chroma?: Array<NativeChromaFeatures | null>,
): void {
  if (promptCodes !== undefined) {
    const { codebooks } = handle.info();
    if (promptCodes.data.length !== count * codebooks * promptCodes.frames) {
      throw invalid('audioPrompt', `one audio prompt per text prompt (${count})`, promptCodes.data.length);
    }
    const limit = maxFrames(handle) - promptCodes.frames;
    if (request.frames > limit) {
      const what = limit < 1 ? 'a shorter audio prompt' : `at most ${limit} new frames after the audio prompt`;
      throw invalid('duration/frames', what, request.frames);
    }
    request.promptCodes = promptCodes.data;
    request.promptFrames = promptCodes.frames;
  }
  if (chroma !== undefined) {
    if (chroma.length !== count) throw invalid('melody', `one entry per prompt (${count})`, chroma.length);
    request.chroma = chroma;
  }
}

export function aborted(signal: AbortSignal): MusicGenError {
  return new MusicGenError('ERR_MUSICGEN_ABORTED', 'The generation was aborted', { cause: signal.reason });
}

/**
 * Generates audio codes for one prompt or a batch (one entry per prompt, in order). Runs off the JS thread.
 * Invalid options throw ERR_MUSICGEN_INVALID_OPTION before any work starts. With `promptCodes` (internal: one
 * encoded audio prompt per text prompt, lib/encode-audio.ts) generation continues them: each result holds the
 * prompt frames followed by the new ones. `chroma` (internal, lib/melody.ts: one entry per prompt, null = none)
 * conditions a MusicGen-Melody model on melodies; the native core rejects it for text models.
 */
export async function generateCodes(
  handle: NativeModel,
  prompts: string | string[],
  options: GenerateOptions,
  promptCodes?: PromptCodes,
  chroma?: Array<NativeChromaFeatures | null>,
): Promise<GeneratedCodes[]> {
  const list = promptList(prompts);
  const opts = plainObject('options', options);
  const request = resolveGenerateRequest(handle, opts);
  addConditioning(handle, list.length, request, promptCodes, chroma);
  const promptFrames = request.promptFrames ?? 0;
  checkGenerateMemory(
    handle,
    prompts,
    opts,
    request.guidanceScale as number,
    promptFrames + request.frames,
    promptFrames + request.frames,
  );
  const onProgress = opts.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw invalid('onProgress', 'a function', onProgress);
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal', 'an AbortSignal', signal);
  if (signal?.aborted) throw aborted(signal);
  const disposal = disposals.get(handle);
  if (disposal?.aborted) throw disposal.reason;

  const started = performance.now();
  const report = onProgress as ((progress: GenerateProgress) => void) | undefined;
  const job = native().generate(
    handle,
    list,
    request,
    report && ((step, totalSteps) => report({ step, totalSteps, elapsedMs: performance.now() - started })),
  );
  const onAbort = () => job.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  disposal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await job;
    const perPrompt = result.codebooks * result.frames;
    return Array.from({ length: result.batch }, (_, b) => ({
      data: result.codes.slice(b * perPrompt, (b + 1) * perPrompt),
      codebooks: result.codebooks,
      frames: result.frames,
      seed: request.seed as number,
    }));
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (disposal?.aborted && code === 'ERR_MUSICGEN_ABORTED') throw disposal.reason;
    if (signal?.aborted && code === 'ERR_MUSICGEN_ABORTED') throw aborted(signal);
    throw fromNative(error);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    disposal?.removeEventListener('abort', onAbort);
  }
}
