// Music longer than the model's window, the way audiocraft extends it: generate one window, then repeatedly
// keep its last (window - stride) seconds of codes as an audio prompt and generate `stride` more seconds, until
// the requested length. Codes are carried directly (no re-encoding), so every window continues exactly from
// what came before; the audio is decoded once at the end, so there are no seams in the waveform either.
import type { Conditioning } from './conditioning';
import type { PromptCodes } from './encode-audio';
import {
  generateCodes,
  maxFrames,
  resolveGenerateRequest,
  type GeneratedCodes,
  type GenerateOptions,
} from './generate';
import type { NativeChromaFeatures, NativeModel } from './native';
import { invalid, numberIn, plainObject } from './validate';

/** Longest music one call may ask for, in seconds (a bound on memory and time, not on the method). */
export const MAX_LONG_FORM_SECONDS = 3600;
/** audiocraft's default extend stride. */
export const DEFAULT_STRIDE_SECONDS = 18;

export interface LongFormOptions {
  /** Seconds per window (default: the model's maxDuration, 30 s for the released checkpoints). */
  window?: number;
  /** New seconds per extension (default 18, audiocraft's extend_stride); the rest of the window is context. */
  stride?: number;
}

interface Plan {
  frames: number;
  window: number;
  stride: number;
}

/** The long-form plan for these options, or undefined when one window is enough. */
export function longFormPlan(handle: NativeModel, opts: Record<string, unknown>): Plan | undefined {
  const info = handle.info();
  const frameLimit = Math.round(MAX_LONG_FORM_SECONDS * info.frameRate);
  const { frames } = resolveGenerateRequest(handle, opts, frameLimit); // also checks every other option
  const longForm = plainObject('longForm', opts.longForm);
  const maxWindow = Math.min(maxFrames(handle), Math.round(info.maxDuration * info.frameRate));
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

/** generateCodes over several windows (see the file comment); the result has `plan.frames` frames per prompt. */
export async function generateLongCodes(
  handle: NativeModel,
  prompts: string[],
  options: GenerateOptions,
  plan: Plan,
  conditioning: Conditioning = {},
): Promise<GeneratedCodes[]> {
  const { promptCodes, chroma, chromaAt } = conditioning;
  const { codebooks, channels, frameRate } = handle.info();
  const steps = (n: number) => n + codebooks / channels - 1;
  const given = promptCodes?.frames ?? 0;
  const firstNew = plan.window - given;
  if (firstNew < 1) throw invalid('audioPrompt', `shorter than the window (${plan.window} frames)`, given);
  let totalSteps = steps(firstNew);
  for (let done = plan.frames - given - firstNew; done > 0; done -= plan.stride)
    totalSteps += steps(Math.min(plan.stride, done));

  const base = { ...options, duration: undefined, frames: undefined, longForm: undefined };
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  let stepsBefore = 0;
  const run = async (
    frames: number,
    window: number,
    prompt?: PromptCodes,
    windowChroma?: Array<NativeChromaFeatures | null>,
  ) => {
    const report = options.onProgress;
    const result = await generateCodes(
      handle,
      prompts,
      {
        ...base,
        frames,
        seed: seed + window, // each window draws its own random stream, reproducibly
        ...(report && { onProgress: (p) => report({ ...p, step: stepsBefore + p.step, totalSteps }) }),
      },
      prompt,
      windowChroma,
    );
    stepsBefore += steps(frames);
    return result;
  };

  let codes = await run(firstNew, 0, promptCodes, chroma);
  for (let w = 1; codes[0]!.frames < plan.frames; w++) {
    const have = codes[0]!.frames;
    const keep = plan.window - plan.stride;
    const context = new Int32Array(prompts.length * codebooks * keep);
    codes.forEach((c, b) => {
      for (let k = 0; k < codebooks; k++) {
        context.set(c.data.subarray(k * have + have - keep, (k + 1) * have), (b * codebooks + k) * keep);
      }
    });
    const windowChroma = chromaAt && (await chromaAt((have - keep) / frameRate, plan.window / frameRate));
    const more = await run(Math.min(plan.stride, plan.frames - have), w, { data: context, frames: keep }, windowChroma);
    codes = codes.map((c, b) => {
      const next = more[b]!;
      const added = next.frames - keep;
      const data = new Int32Array(codebooks * (have + added));
      for (let k = 0; k < codebooks; k++) {
        data.set(c.data.subarray(k * have, (k + 1) * have), k * (have + added));
        data.set(next.data.subarray(k * next.frames + keep, (k + 1) * next.frames), k * (have + added) + have);
      }
      return { data, codebooks, frames: have + added, seed };
    });
  }
  return codes;
}
