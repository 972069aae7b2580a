// Codes -> waveform through the model's EnCodec decoder: the codes are checked here (the contract), then decoded
// natively per audio channel by the generation pipeline's own decoder stage (native/src/pipeline/pipeline.h
// decode_channels, where a stereo model's interleaved rows are split).
import { fromNative } from './native-errors';
import { asContext, type ModelContext } from './model-context';
import type { NativeModel } from './native';
import { native } from './native';
import { integerIn, invalid, plainObject } from './validate';

/** Undelayed codes: [codebooks, frames] row-major. */
export interface CodeMatrix {
  data: Int32Array;
  codebooks: number;
  frames: number;
}

/** One Float32Array of frames * hopLength samples per audio channel (1 mono, 2 stereo: [left, right]). */
export async function decodeCodes(model: ModelContext | NativeModel, codes: CodeMatrix): Promise<Float32Array[]> {
  const context = asContext(model);
  const { info } = context;
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

  try {
    return await native().decodeAudio(context.handle(), data, frames);
  } catch (error) {
    throw fromNative(error);
  }
}
