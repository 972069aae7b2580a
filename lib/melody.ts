// Melody input for MusicGen-Melody: WAV file or raw channels -> validated, downmixed to mono, resampled to the
// model's rate (lib/resample.ts, torchaudio's settings in HF's feature extractor) -> native chroma
// (native/src/melody/chroma.h). See docs/melody.md.
import * as fs from 'node:fs';
import { WaveFile } from 'wavefile';
import { MusicGenError } from './errors';
import { native, type NativeMelodyParams, type NativeModelInfo } from './native';
import { fromNative } from './native-errors';
import { resample } from './resample';
import { invalid, plainObject, string } from './validate';

/** Audio input (melody or audio prompt): a WAV file, or one Float32Array per channel (equal lengths). */
export type AudioInput = { path: string } | { channels: Float32Array[]; sampleRate: number };
export type MelodyInput = AudioInput;

/** Chroma as MusicGen-Melody consumes it; arrays are [frames, numChroma] row-major. */
export interface ChromaFeatures {
  frames: number;
  numChroma: number;
  /** Filter-bank energies divided by each frame's maximum (before the argmax). */
  prequant: Float32Array;
  /** One-hot of each frame's strongest pitch class (row 0 = C; silence gives C). */
  onehot: Float32Array;
}

export const MELODY_MIN_RATE = 8000;
export const MELODY_MAX_RATE = 192000;
export const MELODY_MAX_CHANNELS = 8;
// HF's MusicgenMelodyFeatureExtractor resamples with these (reference notes 11.1).
export const RESAMPLE = { rolloff: 0.945, lowpassFilterWidth: 24 } as const;

/** The chroma parameters of a melody model: its sample rate and musicgen.melody.* keys. */
export function melodyParams(info: Pick<NativeModelInfo, 'variant' | 'sampleRate' | 'hparams'>): NativeMelodyParams {
  const melody = info.hparams.melody;
  if (info.variant !== 'melody' || melody === undefined) {
    throw new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', `This model (variant '${info.variant}') takes no melody`);
  }
  return {
    sampleRate: info.sampleRate,
    nFft: melody.nFft,
    hopLength: melody.hopLength,
    numChroma: melody.numChroma,
    chunkLength: melody.chunkLength,
  };
}

function checkRate(name: string, rate: unknown): number {
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MELODY_MIN_RATE || rate > MELODY_MAX_RATE) {
    throw invalid(name, `an integer sample rate between ${MELODY_MIN_RATE} and ${MELODY_MAX_RATE}`, rate);
  }
  return rate;
}

function checkChannels(name: string, channels: unknown): Float32Array[] {
  if (
    !Array.isArray(channels) ||
    channels.length < 1 ||
    channels.length > MELODY_MAX_CHANNELS ||
    !channels.every((c) => c instanceof Float32Array)
  ) {
    throw invalid(name, `an array of 1 to ${MELODY_MAX_CHANNELS} Float32Array channels`, channels);
  }
  const length = (channels[0] as Float32Array).length;
  if (length === 0) throw invalid(`${name}[0]`, 'a channel with samples', channels[0]);
  channels.forEach((c: Float32Array, ch) => {
    if (c.length !== length) throw invalid(`${name}[${ch}]`, `${length} samples, as many as channel 0`, c);
    for (let i = 0; i < c.length; i++) {
      if (!Number.isFinite(c[i]!)) {
        throw new MusicGenError(
          'ERR_MUSICGEN_INVALID_OPTION',
          `${name}[${ch}] sample ${i} is ${c[i]}: melody audio must be finite`,
        );
      }
    }
  });
  return channels as Float32Array[];
}

// Sample scale of each accepted PCM width (wavefile returns raw integers; 8-bit WAV is unsigned).
const PCM_SCALE: Record<string, { offset: number; scale: number }> = {
  '8': { offset: -128, scale: 1 / 128 },
  '16': { offset: 0, scale: 1 / 32768 },
  '24': { offset: 0, scale: 1 / 8388608 },
  '32': { offset: 0, scale: 1 / 2147483648 },
};

/**
 * Checks the RIFF chunk sizes wavefile would trust: it reads metadata chunks (bext, LIST, cue, smpl, ...) through
 * their declared sizes and counts without bounds, so a size past the end of the file made it loop for billions
 * of iterations (a hang). Every chunk but 'data' (a truncated recording still decodes) must fit the file, and so
 * must the entry counts of 'cue ' and 'smpl'.
 */
function checkRiffChunks(bytes: Uint8Array, file: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (what: string): never => {
    throw new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', `${file} is not a readable WAV file: ${what}`);
  };
  if (bytes.length < 12) bad(`${bytes.length} bytes, too short for a RIFF header`);
  const little = String.fromCharCode(...bytes.subarray(0, 4)) !== 'RIFX';
  const id = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  const walk = (start: number, end: number): void => {
    for (let p = start; p + 8 <= end;) {
      const name = id(p);
      const size = view.getUint32(p + 4, little);
      const body = p + 8;
      if (name !== 'data' && size > end - body) {
        bad(`chunk '${name}' at byte ${p} declares ${size} bytes but only ${end - body} remain (truncated or corrupt)`);
      }
      const count = size >= 4 && body + 4 <= end ? view.getUint32(body, little) : 0;
      if (name === 'cue ' && 4 + count * 24 > size) bad(`chunk 'cue ' declares ${count} cue points in ${size} bytes`);
      if (name === 'smpl' && (size < 36 || 36 + view.getUint32(body + 28, little) * 24 > size)) {
        bad(`chunk 'smpl' of ${size} bytes is shorter than its header and sample loops`);
      }
      p = body + size + (size & 1);
    }
  };
  walk(12, bytes.length);
}

/** Decodes a WAV file's bytes into float channels: PCM 8/16/24/32-bit or IEEE float 32/64-bit. */
export function decodeWav(bytes: Uint8Array, file = 'WAV'): { channels: Float32Array[]; sampleRate: number } {
  checkRiffChunks(bytes, file);
  let wav: WaveFile;
  try {
    wav = new WaveFile(bytes);
  } catch (error) {
    throw new MusicGenError(
      'ERR_MUSICGEN_INVALID_OPTION',
      `${file} is not a readable WAV file: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const fmt = wav.fmt as {
    audioFormat: number;
    numChannels: number;
    sampleRate: number;
    bitsPerSample: number;
    subformat: number[];
  };
  // WAVE_FORMAT_EXTENSIBLE (0xFFFE) carries the real format in the first field of its sub-format GUID.
  const format = fmt.audioFormat === 0xfffe ? fmt.subformat[0] : fmt.audioFormat;
  const bits = fmt.bitsPerSample;
  const isPcm = format === 1 && bits in PCM_SCALE;
  const isFloat = format === 3 && (bits === 32 || bits === 64);
  if (!isPcm && !isFloat) {
    throw new MusicGenError(
      'ERR_MUSICGEN_INVALID_OPTION',
      `${file}: unsupported WAV encoding (format ${format}, ${bits} bits); use PCM 8/16/24/32-bit or float 32/64-bit`,
    );
  }
  if (fmt.numChannels < 1 || fmt.numChannels > MELODY_MAX_CHANNELS) {
    throw invalid(`${file} channel count`, `1 to ${MELODY_MAX_CHANNELS} channels`, fmt.numChannels);
  }
  checkRate(`${file} sample rate`, fmt.sampleRate);
  let raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  if (!Array.isArray(raw)) raw = [raw];
  const channels = raw.map((c) => {
    if (isFloat && fmt.audioFormat === 0xfffe && bits === 32) {
      // wavefile reads extensible float32 as int32: reinterpret the bits.
      return new Float32Array(Int32Array.from(c).buffer);
    }
    if (isFloat) return Float32Array.from(c);
    const { offset, scale } = PCM_SCALE[String(bits)]!;
    return Float32Array.from(c, (v) => (v + offset) * scale);
  });
  return { channels, sampleRate: fmt.sampleRate };
}

/** Mean of the channels (float32 result, summed in double). */
export function downmix(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0]!;
  const out = new Float32Array(channels[0]!.length);
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (const c of channels) sum += c[i]!;
    out[i] = sum / channels.length;
  }
  return out;
}

/**
 * Reads and checks audio input named `name` (for messages): decodes a WAV file or takes the given channels;
 * 1-8 channels, 8-192 kHz, non-empty, equal lengths, finite samples.
 */
export async function readAudio(
  name: string,
  input: AudioInput,
): Promise<{ channels: Float32Array[]; sampleRate: number }> {
  const options = plainObject(name, input);
  let audio: { channels: Float32Array[]; sampleRate: number };
  if ('path' in options) {
    const file = string(`${name}.path`, options.path);
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(file);
    } catch (error) {
      throw new MusicGenError(
        'ERR_MUSICGEN_INVALID_OPTION',
        `Cannot read ${name} file ${file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    audio = decodeWav(bytes, file);
  } else if ('channels' in options) {
    audio = { channels: options.channels as Float32Array[], sampleRate: options.sampleRate as number };
  } else {
    throw invalid(name, '{ path } or { channels, sampleRate }', input);
  }
  return {
    sampleRate: checkRate(`${name}.sampleRate`, audio.sampleRate),
    channels: checkChannels(`${name}.channels`, audio.channels),
  };
}

/** A melody as the model's chroma extractor takes it: read, checked, downmixed to mono, resampled to the model rate. */
export async function melodyWaveform(
  info: Pick<NativeModelInfo, 'variant' | 'sampleRate' | 'hparams'>,
  input: MelodyInput,
  name = 'melody',
): Promise<Float32Array> {
  const params = melodyParams(info);
  const { channels, sampleRate } = await readAudio(name, input);
  // Downmixing before resampling (the reference averages afterwards): both are linear, so only float
  // rounding differs, and one resampling pass instead of one per channel.
  return resample(downmix(channels), sampleRate, params.sampleRate, RESAMPLE);
}

/** Native STFT chroma of a mono waveform at the model rate (at most the model's chunkLength seconds are used). */
export async function chromaOfWaveform(
  info: Pick<NativeModelInfo, 'variant' | 'sampleRate' | 'hparams'>,
  mono: Float32Array,
): Promise<ChromaFeatures> {
  const params = melodyParams(info);
  try {
    const chroma = await native().chromaFeatures(mono, params);
    return { ...chroma, numChroma: params.numChroma };
  } catch (error) {
    throw fromNative(error);
  }
}

/** melodyWaveform then chromaOfWaveform: one melody's chroma. */
export async function melodyToChroma(
  info: Pick<NativeModelInfo, 'variant' | 'sampleRate' | 'hparams'>,
  input: MelodyInput,
): Promise<ChromaFeatures> {
  return chromaOfWaveform(info, await melodyWaveform(info, input));
}
