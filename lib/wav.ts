// WAV output through wavefile. Writing is atomic (temp file + rename): an interrupted or failed write
// never leaves a half-written WAV at the destination.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WaveFile } from 'wavefile';
import { invalid, oneOf } from './validate';

/** Audio as musicgen-native returns it: one Float32Array per channel, samples nominally in [-1, 1]. */
export interface AudioData {
  sampleRate: number;
  channels: Float32Array[];
}

export interface WavOptions {
  /** '16' (16-bit PCM, overs clipped; the default, plays everywhere) or '32f' (32-bit float, lossless). */
  bitDepth?: '16' | '32f';
}

function checkAudio(audio: AudioData): void {
  if (typeof audio !== 'object' || audio === null)
    throw invalid('audio', 'an object with sampleRate and channels', audio);
  if (!Number.isInteger(audio.sampleRate) || audio.sampleRate <= 0) {
    throw invalid('audio.sampleRate', 'a positive integer', audio.sampleRate);
  }
  if (
    !Array.isArray(audio.channels) ||
    audio.channels.length === 0 ||
    !audio.channels.every((c) => c instanceof Float32Array)
  ) {
    throw invalid('audio.channels', 'a non-empty array of Float32Array', audio.channels);
  }
  const length = audio.channels[0]?.length;
  if (!audio.channels.every((c) => c.length === length)) {
    throw invalid('audio.channels', 'channels of equal length', audio.channels.map((c) => c.length).join(' vs '));
  }
}

/** Encodes audio as a WAV file in memory. */
export function toWav(audio: AudioData, options: WavOptions = {}): Buffer {
  checkAudio(audio);
  const bitDepth = oneOf('bitDepth', options.bitDepth ?? '16', ['16', '32f'] as const);
  // Our own float -> int16 step: wavefile's toBitDepth truncates and maps some tiny values (~1e-16) to
  // +8 LSB. Round to nearest, clip overs, scale symmetrically by 32767.
  const channels =
    bitDepth === '16'
      ? audio.channels.map((c) => Int16Array.from(c, (x) => Math.round(Math.max(-1, Math.min(1, x)) * 32767)))
      : audio.channels;
  const wav = new WaveFile();
  wav.fromScratch(channels.length, audio.sampleRate, bitDepth, channels.length === 1 ? channels[0]! : channels);
  return Buffer.from(wav.toBuffer());
}

/** Writes audio to a WAV file atomically. */
export async function writeWav(file: string, audio: AudioData, options: WavOptions = {}): Promise<void> {
  const bytes = toWav(audio, options);
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    await fs.promises.writeFile(temp, bytes);
    await fs.promises.rename(temp, file);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
}
