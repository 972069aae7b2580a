// Text conditioning: prompts -> T5 tokens -> T5 encoder states -> states projected to the LM width
// (what the LM cross-attends to, or the text part of the melody prefix). Mirrors HF's MusicgenProcessor,
// T5EncoderModel and enc_to_dec_proj * attention_mask.
import { fromNative } from './native-errors';
import { native } from './native';
import type { EncodedText, NativeModel } from './native-types';
import { promptList } from './validate';

export type { EncodedText };

/**
 * Encodes one prompt or a batch of prompts with the model's T5 encoder. Runs off the JS thread.
 * Throws ERR_MUSICGEN_INVALID_OPTION for a prompt that is not a string or an empty batch.
 */
export async function encodeText(handle: NativeModel, prompts: string | string[]): Promise<EncodedText> {
  const list = promptList(prompts);
  try {
    return await native().encodeText(handle, list);
  } catch (error) {
    throw fromNative(error);
  }
}
