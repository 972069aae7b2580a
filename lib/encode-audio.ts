// Waveform -> codes through the model's EnCodec encoder (native/src/codec/encoder.cpp), and the audio-prompt
// code matrix generation continues from (docs/reference-notes.md §9, §12). EnCodec is mono: a stereo prompt's channels
// are encoded one after the other and interleaved like the LM's rows (row 2q = left quantizer q, 2q + 1 = right).
import { fromNative } from './native-errors';
import { native, type NativeModel } from './native';
import { invalid } from './validate';
import type { CodeMatrix } from './decode-codes';

/** Undelayed prompt codes of a batch: [prompts, codebooks, frames] row-major. */
export interface PromptCodes {
  data: Int32Array;
  frames: number;
}

function checkWaveform(name: string, pcm: unknown): Float32Array {
  if (!(pcm instanceof Float32Array)) throw invalid(name, 'a Float32Array', pcm);
  if (pcm.length === 0) throw invalid(name, 'at least one sample', pcm.length);
  const bad = pcm.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw invalid(`${name}[${bad}]`, 'a finite sample', pcm[bad]);
  return pcm;
}

/** Encodes one mono waveform at the codec's sample rate into [quantizers per channel, frames] codes. */
export async function encodeAudio(handle: NativeModel, pcm: Float32Array): Promise<CodeMatrix> {
  const samples = checkWaveform('pcm', pcm);
  try {
    const out = await native().encodeAudio(handle, samples);
    return { data: out.codes, codebooks: out.codebooks, frames: out.frames };
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * Prompt codes for a batch: audio[prompt][channel] at the codec's sample rate, one channel per model channel.
 * Like HF's processor (padding=True), shorter clips are left-padded with zeros to the longest one.
 */
export async function encodeAudioPrompt(handle: NativeModel, audio: Float32Array[][]): Promise<PromptCodes> {
  const info = handle.info();
  const channels = info.channels;
  if (!Array.isArray(audio) || audio.length === 0) throw invalid('audioPrompt', 'a non-empty array', audio);
  audio.forEach((clip, b) => {
    if (!Array.isArray(clip) || clip.length !== channels) {
      throw invalid(`audioPrompt[${b}]`, `an array of ${channels} channel waveform(s)`, clip);
    }
    clip.forEach((pcm, c) => checkWaveform(`audioPrompt[${b}][${c}]`, pcm));
  });
  const length = Math.max(...audio.flatMap((clip) => clip.map((pcm) => pcm.length)));

  const perChannel = info.codebooks / channels;
  let frames = 0;
  let data = new Int32Array(0);
  // One encode after the other: encodes of one model share its compute backend.
  for (let b = 0; b < audio.length; b++) {
    for (let c = 0; c < channels; c++) {
      const pcm = (audio[b] as Float32Array[])[c] as Float32Array;
      const padded = pcm.length === length ? pcm : new Float32Array(length);
      if (padded !== pcm) padded.set(pcm, length - pcm.length);
      const codes = await encodeAudio(handle, padded);
      if (data.length === 0) {
        frames = codes.frames;
        data = new Int32Array(audio.length * info.codebooks * frames);
      }
      for (let q = 0; q < perChannel; q++) {
        const row = (b * info.codebooks + q * channels + c) * frames;
        data.set(codes.data.subarray(q * frames, (q + 1) * frames), row);
      }
    }
  }
  return { data, frames };
}
