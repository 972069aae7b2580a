// Codes -> waveform through the model's EnCodec decoder (native/src/encodec.cpp). EnCodec is mono: a stereo
// model's codebook rows interleave the channels (row 2q = left quantizer q, row 2q + 1 = right, REFERENCE_NOTES
// §12), so each channel's rows are gathered and decoded on their own.
import { fromNative } from './native-errors';
import { native, type NativeModel } from './native';
import { integerIn, invalid, plainObject } from './validate';

/** Undelayed codes: [codebooks, frames] row-major. */
export interface CodeMatrix {
  data: Int32Array;
  codebooks: number;
  frames: number;
}

/** One Float32Array of frames * hopLength samples per audio channel (1 mono, 2 stereo: [left, right]). */
export async function decodeCodes(handle: NativeModel, codes: CodeMatrix): Promise<Float32Array[]> {
  const info = handle.info();
  const opts = plainObject('codes', codes);
  const { codebookSize } = info.hparams.codec;
  const codebooks = opts.codebooks;
  if (codebooks !== info.codebooks) {
    throw invalid('codes.codebooks', `${info.codebooks} (the codebook count of ${info.name})`, codebooks);
  }
  const frames = integerIn('codes.frames', opts.frames, 1, 2 ** 31 / info.hparams.codec.hopLength);
  const data = opts.data;
  if (!(data instanceof Int32Array)) throw invalid('codes.data', 'an Int32Array', data);
  if (data.length !== codebooks * frames) {
    throw invalid('codes.data', `an Int32Array of codebooks * frames = ${codebooks * frames} codes`, data.length);
  }
  for (let i = 0; i < data.length; i++) {
    const code = data[i] as number;
    if (code < 0 || code >= codebookSize) {
      const where = `codes.data[${i}] (codebook ${Math.floor(i / frames)}, frame ${i % frames})`;
      throw invalid(where, `a code between 0 and ${codebookSize - 1}`, code);
    }
  }

  const channels = info.channels;
  const perChannel = codebooks / channels;
  const audio: Float32Array[] = [];
  // One channel after the other: decodes of one model share its compute backend.
  for (let channel = 0; channel < channels; channel++) {
    const rows = new Int32Array(perChannel * frames);
    for (let q = 0; q < perChannel; q++) {
      const row = q * channels + channel;
      rows.set(data.subarray(row * frames, (row + 1) * frames), q * frames);
    }
    try {
      audio.push(await native().decodeCodes(handle, rows, perChannel, frames));
    } catch (error) {
      throw fromNative(error);
    }
  }
  return audio;
}
