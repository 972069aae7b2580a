// generate() as the stream collected: the one native job (lib/stream.ts) asked for a single chunk holding the
// whole output, decoded in one pass, and the codes. Also generateCodes(), the same job without decoding, for the
// parity tests and tools that compare codes.
import type { Conditioning } from './conditioning';
import type { GenerateOptions, GeneratedCodes } from './generate';
import { asContext, type ModelContext } from './model-context';
import type { NativeChromaFeatures, NativeModel } from './native';
import type { PromptCodes } from './encode-audio';
import { AudioStream, type JobKind } from './stream';
import { invalid, plainObject } from './validate';

/** One prompt's result of the job: its audio channels (empty when not decoded) and codes. */
export interface JobResult {
  channels: Float32Array[];
  codes: GeneratedCodes;
}

/** Runs one generation to its end and returns each prompt's audio and codes, in prompt order. */
export async function runToEnd(
  context: ModelContext,
  prompts: string | string[],
  options: GenerateOptions,
  decode: boolean,
  conditioning?: Conditioning,
): Promise<JobResult[]> {
  const opts = plainObject('options', options);
  const onProgress = opts.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw invalid('onProgress', 'a function', onProgress);
  const report = onProgress as GenerateOptions['onProgress'];
  const started = performance.now();
  let codes: { data: Int32Array; frames: number } | undefined;
  const kind: JobKind = {
    delivery: decode ? { kind: 'whole' } : { kind: 'codes' },
    onCodes: (data, frames) => (codes = { data, frames }),
    ...(report && {
      onStep: (step: number, totalSteps: number) =>
        report({ step, totalSteps, elapsedMs: performance.now() - started }),
    }),
    ...(conditioning && { conditioning }),
  };
  const stream = new AudioStream(context, prompts, options, kind);
  const chunks: Float32Array[][] = [];
  for await (const chunk of stream) chunks.push(chunk.channels);
  const { codebooks } = context.info;
  const { data, frames } = codes!;
  const perPrompt = codebooks * frames;
  return chunks.map((channels, b) => ({
    channels,
    codes: { data: data.slice(b * perPrompt, (b + 1) * perPrompt), codebooks, frames, seed: stream.seed },
  }));
}

/**
 * Codes only (no decoding) for one prompt or a batch, in prompt order. `promptCodes` (one encoded audio prompt per
 * text prompt, lib/encode-audio.ts) are continued; `chroma` (one entry per prompt, null = none) conditions a
 * MusicGen-Melody model. For parity tests and tools; the public API is MusicGen.generate().
 */
export async function generateCodes(
  model: ModelContext | NativeModel,
  prompts: string | string[],
  options: GenerateOptions,
  promptCodes?: PromptCodes,
  chroma?: Array<NativeChromaFeatures | null>,
): Promise<GeneratedCodes[]> {
  const conditioning: Conditioning | undefined =
    promptCodes || chroma ? { ...(promptCodes && { promptCodes }), ...(chroma && { chroma }) } : undefined;
  return (await runToEnd(asContext(model), prompts, options, false, conditioning)).map((r) => r.codes);
}
