// Options of generate() and stream(), resolved once into the request the native pipeline runs
// (native/src/pipeline/pipeline.h): length, sampling, long-form windows, chunking, the prompts' T5 tokens and the
// memory check. Everything here is pure (the default seed is drawn once, by the caller, and passed in); running
// the request is lib/generation-job.ts.
import { randomInt } from 'node:crypto';
import type { ConditioningOptions } from './conditioning';
import { MusicGenError } from './errors';
import { checkMemory, estimateMemory, memoryBudgetOption, STREAM_BUFFERED_CHUNKS } from './memory-budget';
import type { ModelContext } from './model-context';
import type { NativeGenerateOptions, NativeModelInfo } from './native';
import { fromNative } from './native-errors';
import { integerIn, invalid, numberIn, plainObject, promptList } from './validate';

export interface LongFormOptions {
  /** Seconds per window (default: the model's maxDuration, 30 s for the released checkpoints). */
  window?: number;
  /** New seconds per extension (default 18, audiocraft's extend_stride); the rest of the window is context. */
  stride?: number;
}

export interface GenerateOptions extends ConditioningOptions {
  /** Seconds of audio; frames = round(duration * frameRate). Give this or `frames`. Default 10 s. */
  duration?: number;
  /** Codec frames to generate (frameRate per second). Give this or `duration`. */
  frames?: number;
  /** Keep the k most likely codes per step: 0 = all, 1 = greedy. Default 250. */
  topK?: number;
  /** Nucleus sampling threshold in [0, 1]; 0 (default) disables it. */
  topP?: number;
  /** Softmax temperature, > 0 (at least 1.4e-45 and at most 3.4e38: a float32). Default 1. */
  temperature?: number;
  /** Classifier-free guidance scale, 0 to 3.4e38 (a float32); <= 1 disables guidance. Default 3 (paper, audiocraft). */
  guidanceScale?: number;
  /** Sampling seed, a non-negative safe integer; the same seed gives the same codes. Default random. */
  seed?: number;
  /** Beyond the model's window (30 s): how windows overlap (see docs/long-form.md). */
  longForm?: LongFormOptions;
  /** Aborting rejects the generation with ERR_MUSICGEN_ABORTED within one LM step. */
  signal?: AbortSignal;
  /** Called after every LM step (totalSteps over all windows: frames + codebook groups - 1 per window). */
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

/** Longest prompt the native T5 encoder takes, in tokens (native/src/text/text-conditioning.cpp max_prompt_tokens). */
export const MAX_PROMPT_TOKENS = 2048;
/** Longest music one call may ask for, in seconds (a bound on memory and time, not on the method). */
export const MAX_LONG_FORM_SECONDS = 3600;
/** audiocraft's default extend stride. */
export const DEFAULT_STRIDE_SECONDS = 18;
/** Length when neither duration nor frames is given, in seconds. */
export const DEFAULT_DURATION = 10;

// The largest seed randomInt can draw (its range must stay below 2^48).
const RANDOM_SEED_LIMIT = 2 ** 48 - 1;

/** A fresh random seed: drawn once per request, by the caller of resolveRequest. */
export function drawSeed(): number {
  return randomInt(RANDOM_SEED_LIMIT);
}

/** The maximum number of frames the model's position table allows (the last of frames + groups - 1 steps
 * must stay inside it). */
export function maxFrames(info: NativeModelInfo): number {
  return info.hparams.lm.maxPosition - info.codebooks / info.channels + 1;
}

/** The largest float32: the LM samples in single precision, so temperature and guidanceScale must fit one. */
export const FLOAT32_MAX = 3.4028234663852886e38;
/** The smallest positive float32: a smaller temperature would round to 0. */
export const FLOAT32_MIN_POSITIVE = 1.401298464324817e-45;

function temperatureOption(value: unknown): number {
  const t = numberIn('temperature', value, 0, FLOAT32_MAX, { minExclusive: true });
  if (t < FLOAT32_MIN_POSITIVE)
    throw invalid('temperature', `a number of at least ${FLOAT32_MIN_POSITIVE} (float32)`, t);
  return t;
}

/** Length and sampling options, checked, with their defaults; no seed (see drawSeed). */
export function resolveSampling(
  info: NativeModelInfo,
  opts: Record<string, unknown>,
  limit = maxFrames(info),
): Omit<NativeGenerateOptions, 'seed'> & { frames: number; guidanceScale: number } {
  const { lm } = info.hparams;
  if (opts.duration !== undefined && opts.frames !== undefined) {
    throw invalid('duration/frames', 'exactly one of duration (seconds) or frames', opts.duration);
  }
  let frames: number;
  if (opts.frames !== undefined) {
    frames = integerIn('frames', opts.frames, 1, limit);
  } else {
    const duration =
      opts.duration === undefined
        ? DEFAULT_DURATION
        : numberIn('duration', opts.duration, 0, limit / info.frameRate, { minExclusive: true });
    frames = Math.round(duration * info.frameRate);
    if (frames < 1) throw invalid('duration', `at least one frame (${1 / info.frameRate} s)`, duration);
  }
  return {
    frames,
    topK: opts.topK === undefined ? 250 : integerIn('topK', opts.topK, 0, lm.codebookSize),
    topP: opts.topP === undefined ? 0 : numberIn('topP', opts.topP, 0, 1),
    temperature: opts.temperature === undefined ? 1 : temperatureOption(opts.temperature),
    guidanceScale: opts.guidanceScale === undefined ? 3 : numberIn('guidanceScale', opts.guidanceScale, 0, FLOAT32_MAX),
  };
}

/** The seed option, checked; undefined when absent (the caller draws one). */
export function seedOption(opts: Record<string, unknown>): number | undefined {
  return opts.seed === undefined ? undefined : integerIn('seed', opts.seed, 0, Number.MAX_SAFE_INTEGER);
}

export interface LongFormPlan {
  /** New frames in all. */
  frames: number;
  window: number;
  stride: number;
}

/** The long-form plan for these options, or undefined when one window is enough. */
export function longFormPlan(info: NativeModelInfo, opts: Record<string, unknown>): LongFormPlan | undefined {
  const frameLimit = Math.round(MAX_LONG_FORM_SECONDS * info.frameRate);
  const { frames } = resolveSampling(info, opts, frameLimit);
  const longForm = plainObject('longForm', opts.longForm);
  const maxWindow = Math.min(maxFrames(info), Math.round(info.maxDuration * info.frameRate));
  const window =
    longForm.window === undefined
      ? maxWindow
      : Math.round(
          numberIn('longForm.window', longForm.window, 0, maxWindow / info.frameRate, { minExclusive: true }) *
            info.frameRate,
        );
  if (frames <= window) return undefined;
  const strideSeconds = longForm.stride ?? Math.min(DEFAULT_STRIDE_SECONDS, (window - 1) / info.frameRate);
  const stride = Math.round(
    numberIn('longForm.stride', strideSeconds, 0, window / info.frameRate, { minExclusive: true }) * info.frameRate,
  );
  if (stride < 1 || stride >= window)
    throw invalid('longForm.stride', `between 1 frame and the window (${window} frames)`, strideSeconds);
  return { frames, window, stride };
}

/** T5 token ids of each prompt (EOS included): the one tokenization of a request. Over-long prompts are refused. */
export function tokenizePrompts(context: ModelContext, prompts: string | string[]): Int32Array[] {
  const handle = context.handle();
  return promptList(prompts).map((prompt, i) => {
    let tokens: Int32Array;
    try {
      tokens = handle.tokenize(prompt);
    } catch (error) {
      throw fromNative(error);
    }
    if (tokens.length > MAX_PROMPT_TOKENS) {
      const name = typeof prompts === 'string' ? 'prompts' : `prompts[${i}]`;
      throw new MusicGenError(
        'ERR_MUSICGEN_INVALID_OPTION',
        `Expected a prompt of at most ${MAX_PROMPT_TOKENS} T5 tokens for ${name} but received ${tokens.length} tokens ` +
          `(${prompt.length} characters); prompts are not truncated, shorten it`,
      );
    }
    return tokens;
  });
}

/** How the pipeline hands its audio over: one chunk with the codes (generate()), chunks (stream()), codes only. */
export type Delivery =
  { kind: 'whole' } | { kind: 'chunks'; chunkFrames: number; firstChunkFrames: number } | { kind: 'codes' };

/** A request resolved once: what the native job gets, and what the facade needs to check and report it. */
export interface ResolvedRequest {
  tokens: Int32Array[];
  native: NativeGenerateOptions;
  seed: number;
  delivery: Delivery;
  longForm?: LongFormPlan;
  budget: number;
}

/**
 * Checks every option of a generate() / stream() request once and fills the defaults; `seed` is the default
 * seed, used when the options give none. Throws ERR_MUSICGEN_INVALID_OPTION naming the first bad option and
 * ERR_MUSICGEN_MEMORY_BUDGET when the request would not fit (checked again once an audio prompt's length is known).
 */
export function resolveRequest(
  context: ModelContext,
  prompts: string | string[],
  opts: Record<string, unknown>,
  delivery: Delivery,
  seed: number,
): ResolvedRequest {
  const { info } = context;
  const plan = longFormPlan(info, opts);
  const sampling = resolveSampling(info, plan ? { ...opts, duration: undefined, frames: 1 } : opts);
  const given = seedOption(opts);
  const request: ResolvedRequest = {
    tokens: tokenizePrompts(context, prompts),
    native: { ...sampling, seed: given ?? seed },
    seed: given ?? seed,
    delivery,
    budget:
      opts.memoryBudget === undefined ? context.memoryBudget : memoryBudgetOption('memoryBudget', opts.memoryBudget),
  };
  if (plan) {
    request.longForm = plan;
    request.native.frames = plan.window;
    request.native.longForm = { window: plan.window, stride: plan.stride, total: plan.frames };
  }
  checkRequestMemory(context, request, 0);
  return request;
}

/** Refuses (ERR_MUSICGEN_MEMORY_BUDGET) a request whose estimated peak memory exceeds its budget. */
export function checkRequestMemory(context: ModelContext, request: ResolvedRequest, promptFrames: number): void {
  const { native, longForm, delivery } = request;
  const newFrames = longForm ? longForm.frames : native.frames;
  const guided = (native.guidanceScale ?? 3) > 1;
  checkMemory(
    estimateMemory(context.info, {
      prompts: request.tokens.length,
      textTokens: Math.max(...request.tokens.map((t) => t.length)),
      guided,
      windowFrames: longForm ? longForm.window : promptFrames + native.frames,
      outputFrames: promptFrames + newFrames,
      decode: delivery.kind === 'chunks' ? 'stream' : 'whole',
      ...(delivery.kind === 'chunks' && { chunkFrames: delivery.chunkFrames }),
    }),
    request.budget,
    delivery.kind === 'chunks' ? 'stream()' : 'generate()',
  );
}

export { STREAM_BUFFERED_CHUNKS };
