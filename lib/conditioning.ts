// Audio conditioning of generate() / stream(): `melody` (MusicGen-Melody chroma, lib/melody.ts) and
// `audioPrompt` (EnCodec codes to continue from, lib/encode-audio.ts), resolved per text prompt.
import { encodeAudioPrompt, type PromptCodes } from './encode-audio';
import { MusicGenError } from './errors';
import { chromaOfWaveform, downmix, melodyWaveform, readAudio, RESAMPLE, type AudioInput } from './melody';
import type { NativeChromaFeatures, NativeModel } from './native';
import { resample } from './resample';
import { invalid } from './validate';

export interface ConditioningOptions {
  /**
   * MusicGen-Melody only: a melody whose chroma guides the music; one for all prompts, or an array with one
   * entry per prompt (null = text only for that prompt). Like the reference, the clips of a batch are padded
   * with silence to the longest one.
   */
  melody?: AudioInput | Array<AudioInput | null>;
  /** Audio to continue: one for all prompts or one per prompt; resampled to the model rate, channels matched. */
  audioPrompt?: AudioInput | AudioInput[];
}

export interface Conditioning {
  promptCodes?: PromptCodes;
  chroma?: Array<NativeChromaFeatures | null>;
  /** Long-form windows after the first: the chroma of each melody from `startSeconds` on, looped. */
  chromaAt?: (startSeconds: number, windowSeconds: number) => Promise<Array<NativeChromaFeatures | null>>;
}

function perPrompt<T>(name: string, value: T | T[], count: number): T[] {
  if (!Array.isArray(value)) return Array.from({ length: count }, () => value);
  if (value.length !== count) throw invalid(name, `one entry per prompt (${count})`, value);
  return value;
}

// The model's channel layout: mono models take the mean, stereo models take [left, right] (mono duplicated).
function matchChannels(name: string, channels: Float32Array[], wanted: number): Float32Array[] {
  if (wanted === 1) return [downmix(channels)];
  if (channels.length === 1) return [channels[0]!, channels[0]!];
  if (channels.length === 2) return channels;
  throw invalid(`${name}.channels`, `1 or 2 channels for this stereo model`, channels.length);
}

/** Chroma and prompt codes for `count` prompts; empty when neither option is given. */
export async function resolveConditioning(
  handle: NativeModel,
  count: number,
  options: ConditioningOptions,
): Promise<Conditioning> {
  const info = handle.info();
  const out: Conditioning = {};
  if (options.melody !== undefined) {
    if (info.variant !== 'melody') {
      throw new MusicGenError(
        'ERR_MUSICGEN_INVALID_OPTION',
        `melody needs a MusicGen-Melody model; ${info.name} is a text-conditioned model`,
      );
    }
    const melodies = perPrompt('melody', options.melody, count);
    const waveforms = await Promise.all(
      melodies.map((m, i) => (m === null ? null : melodyWaveform(info, m, count > 1 ? `melody[${i}]` : 'melody'))),
    );
    // HF's feature extractor pads every clip of a batch with zeros to the longest one (silence -> class C
    // frames) before the chroma, so a short melody's chroma depends on its batch: match it.
    const longest = Math.max(0, ...waveforms.map((w) => w?.length ?? 0));
    const padded = waveforms.map((w) => {
      if (w === null || w.length === longest) return w;
      const out = new Float32Array(longest);
      out.set(w);
      return out;
    });
    const chromaOf = (audio: Array<Float32Array | null>) =>
      Promise.all(
        audio.map(async (w) => {
          if (w === null) return null;
          const chroma = await chromaOfWaveform(info, w);
          return { data: chroma.onehot, frames: chroma.frames };
        }),
      );
    out.chroma = await chromaOf(padded);
    // audiocraft's long-form melody: each later window follows the melody from its own start time, looping it.
    out.chromaAt = (startSeconds, windowSeconds) =>
      chromaOf(
        padded.map((w) => {
          if (w === null) return null;
          const offset = Math.round(startSeconds * info.sampleRate);
          return Float32Array.from(
            { length: Math.round(windowSeconds * info.sampleRate) },
            (_, i) => w[(offset + i) % w.length]!,
          );
        }),
      );
  }
  if (options.audioPrompt !== undefined) {
    const prompts = perPrompt('audioPrompt', options.audioPrompt, count);
    const audio: Float32Array[][] = [];
    for (const [i, prompt] of prompts.entries()) {
      const name = count > 1 ? `audioPrompt[${i}]` : 'audioPrompt';
      const { channels, sampleRate } = await readAudio(name, prompt);
      const matched = matchChannels(name, channels, info.channels);
      audio.push(matched.map((c) => resample(c, sampleRate, info.sampleRate, RESAMPLE)));
    }
    out.promptCodes = await encodeAudioPrompt(handle, audio);
  }
  return out;
}
