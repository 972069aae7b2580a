// Text conditioning: prompts -> T5 tokens -> T5 encoder states -> states projected to the LM width
// (what the LM cross-attends to, or the text part of the melody prefix). Mirrors HF's MusicgenProcessor,
// T5EncoderModel and enc_to_dec_proj * attention_mask.
import { fromNative } from './native-errors';
import { native, type NativeModel } from './native';
import { promptList } from './validate';

/** One encoded prompt batch. Arrays are row-major; padded positions are included as HF computes them. */
export interface EncodedText {
  /** Number of prompts (B). */
  batch: number;
  /** Tokens of the longest prompt, EOS included (L); shorter prompts are right-padded with the pad id. */
  tokens: number;
  /** T5 width (d_model, D). */
  t5Dim: number;
  /** LM width (H) of `states`. */
  hiddenDim: number;
  /** [B, L] T5 token ids. */
  inputIds: Int32Array;
  /** [B, L] 1 for tokens, 0 for padding. */
  attentionMask: Float32Array;
  /** [B, L, D] T5 last_hidden_state (after the final RMSNorm). */
  t5States: Float32Array;
  /** [B, L, H] T5 states projected to the LM width and multiplied by the mask (padding rows are zero). */
  states: Float32Array;
}

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
