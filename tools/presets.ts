import { MusicGenError } from '../lib/errors';

/**
 * The size hyper-parameters of the facebook/musicgen-* checkpoints. Every other setting is the same in all of
 * them and lives in hf-config.ts. Keys are the dotted paths of the Hugging Face config.json (plus
 * `tokenizer.pieces`, the SentencePiece vocabulary size), so `--set decoder.hidden_size=64` reads naturally.
 */
export const SIZE_KEYS = [
  'text_encoder.d_model',
  'text_encoder.d_ff',
  'text_encoder.num_layers',
  'text_encoder.num_heads',
  'text_encoder.d_kv',
  'text_encoder.vocab_size',
  'tokenizer.pieces',
  'audio_encoder.hidden_size',
  'audio_encoder.num_filters',
  'audio_encoder.codebook_size',
  'audio_encoder.num_lstm_layers',
  'audio_encoder.num_residual_layers',
  'decoder.hidden_size',
  'decoder.num_hidden_layers',
  'decoder.num_attention_heads',
  'decoder.ffn_dim',
  'decoder.num_codebooks',
  'decoder.audio_channels',
  'decoder.vocab_size',
  'decoder.max_position_embeddings',
  'num_chroma',
  'chroma_length',
] as const;

export type SizeKey = (typeof SIZE_KEYS)[number];
export type Sizes = Record<SizeKey, number>;
export type ModelVariant = 'musicgen' | 'musicgen_melody';

export interface ModelSpec {
  variant: ModelVariant;
  sizes: Sizes;
}

/** encodec_32khz's quantizer count, HF's int(1000 * target_bandwidth 2.2 // (50 frames/s * 10)). */
export const ENCODEC_QUANTIZERS = 4;

/** encodec_32khz's decoder strides (hop 8*5*4*4 = 640 samples, 50 frames/s); the encoder uses them reversed. */
export const ENCODEC_UPSAMPLING_RATIOS = [8, 5, 4, 4] as const;

/** T5 reserves 100 `<extra_id_N>` tokens after the SentencePiece pieces. */
export const T5_EXTRA_IDS = 100;

// t5-base; its 32000 pieces + 100 extra ids give 32100 ids, stored as 32128 embedding rows (a multiple of 128).
const T5_BASE = {
  'text_encoder.d_model': 768,
  'text_encoder.d_ff': 3072,
  'text_encoder.num_layers': 12,
  'text_encoder.num_heads': 12,
  'text_encoder.d_kv': 64,
  'tokenizer.pieces': 32000,
};

// facebook/encodec_32khz: codebook_dim = hidden_size = 128, 4 quantizers of 2048 codes.
const ENCODEC_32KHZ = {
  'audio_encoder.hidden_size': 128,
  'audio_encoder.num_filters': 64,
  'audio_encoder.codebook_size': 2048,
  'audio_encoder.num_lstm_layers': 2,
  'audio_encoder.num_residual_layers': 1,
};

const MONO = { 'decoder.num_codebooks': 4, 'decoder.audio_channels': 1 };
const STEREO = { 'decoder.num_codebooks': 8, 'decoder.audio_channels': 2 };

const DECODER_COMMON = {
  'decoder.vocab_size': 2048,
  'decoder.max_position_embeddings': 2048,
  num_chroma: 12,
  chroma_length: 235,
};

const SMALL = {
  'decoder.hidden_size': 1024,
  'decoder.num_hidden_layers': 24,
  'decoder.num_attention_heads': 16,
  'decoder.ffn_dim': 4096,
};
const MEDIUM = {
  'decoder.hidden_size': 1536,
  'decoder.num_hidden_layers': 48,
  'decoder.num_attention_heads': 24,
  'decoder.ffn_dim': 6144,
};
const LARGE = {
  'decoder.hidden_size': 2048,
  'decoder.num_hidden_layers': 48,
  'decoder.num_attention_heads': 32,
  'decoder.ffn_dim': 8192,
};

// The public test fixtures (test/fixtures/musicgen-*-tiny): same settings, toy sizes.
const TINY_T5 = {
  'text_encoder.d_model': 32,
  'text_encoder.d_ff': 64,
  'text_encoder.num_layers': 2,
  'text_encoder.num_heads': 4,
  'text_encoder.d_kv': 8,
  'tokenizer.pieces': 2000,
};
const TINY_ENCODEC = { ...ENCODEC_32KHZ, 'audio_encoder.hidden_size': 8, 'audio_encoder.num_filters': 2 };
const TINY_DECODER = {
  'decoder.hidden_size': 48,
  'decoder.num_hidden_layers': 2,
  'decoder.num_attention_heads': 4,
  'decoder.ffn_dim': 128,
};
const TINY_STEREO_DECODER = {
  'decoder.hidden_size': 16,
  'decoder.num_hidden_layers': 2,
  'decoder.num_attention_heads': 2,
  'decoder.ffn_dim': 64,
};

type SizesWithoutDerived = Omit<Sizes, 'text_encoder.vocab_size'>;

function preset(variant: ModelVariant, sizes: SizesWithoutDerived): ModelSpec {
  return { variant, sizes: { ...sizes, 'text_encoder.vocab_size': t5EmbeddingRows(sizes['tokenizer.pieces']) } };
}

const REAL = { ...T5_BASE, ...ENCODEC_32KHZ, ...DECODER_COMMON };
const TINY = { ...TINY_T5, ...TINY_ENCODEC, ...DECODER_COMMON };

export const PRESETS: Readonly<Record<string, ModelSpec>> = {
  small: preset('musicgen', { ...REAL, ...SMALL, ...MONO }),
  medium: preset('musicgen', { ...REAL, ...MEDIUM, ...MONO }),
  large: preset('musicgen', { ...REAL, ...LARGE, ...MONO }),
  melody: preset('musicgen_melody', { ...REAL, ...MEDIUM, ...MONO }),
  'melody-large': preset('musicgen_melody', { ...REAL, ...LARGE, ...MONO }),
  'stereo-small': preset('musicgen', { ...REAL, ...SMALL, ...STEREO }),
  'stereo-medium': preset('musicgen', { ...REAL, ...MEDIUM, ...STEREO }),
  'stereo-large': preset('musicgen', { ...REAL, ...LARGE, ...STEREO }),
  'stereo-melody': preset('musicgen_melody', { ...REAL, ...MEDIUM, ...STEREO }),
  'stereo-melody-large': preset('musicgen_melody', { ...REAL, ...LARGE, ...STEREO }),
  tiny: preset('musicgen', { ...TINY, ...TINY_DECODER, ...MONO }),
  'tiny-melody': preset('musicgen_melody', { ...TINY, ...TINY_DECODER, ...MONO }),
  'tiny-stereo': preset('musicgen', { ...TINY, ...TINY_STEREO_DECODER, ...STEREO }),
};

/** T5 embedding rows: pieces + extra ids, rounded up to a multiple of 128 (32000 -> 32128, 2000 -> 2176). */
export function t5EmbeddingRows(pieces: number): number {
  return Math.ceil((pieces + T5_EXTRA_IDS) / 128) * 128;
}

/**
 * Applies `key=value` size overrides to a preset and checks that the result is a model HF could build.
 * `text_encoder.vocab_size` follows `tokenizer.pieces` unless it is overridden itself.
 */
export function resolveSpec(presetName: string, overrides: readonly string[]): ModelSpec {
  const base = PRESETS[presetName];
  if (!base) {
    throw invalid(`--preset: unknown preset '${presetName}' (known: ${Object.keys(PRESETS).join(', ')})`);
  }
  const sizes: Sizes = { ...base.sizes };
  const overridden = new Set<SizeKey>();
  for (const override of overrides) {
    const [key, value] = parseOverride(override);
    if ((key === 'num_chroma' || key === 'chroma_length') && base.variant !== 'musicgen_melody') {
      throw invalid(`--set ${override}: ${key} exists only in melody presets`);
    }
    sizes[key] = value;
    overridden.add(key);
  }
  if (!overridden.has('text_encoder.vocab_size')) {
    sizes['text_encoder.vocab_size'] = t5EmbeddingRows(sizes['tokenizer.pieces']);
  }
  const spec = { variant: base.variant, sizes };
  validateSpec(spec);
  return spec;
}

function parseOverride(override: string): [SizeKey, number] {
  const eq = override.indexOf('=');
  const key = override.slice(0, eq);
  const text = override.slice(eq + 1);
  if (eq < 0 || !isSizeKey(key)) {
    throw invalid(`--set ${override}: expected KEY=VALUE with KEY one of ${SIZE_KEYS.join(', ')}`);
  }
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`--set ${override}: ${key} must be a positive integer, got '${text}'`);
  }
  return [key, value];
}

function isSizeKey(key: string): key is SizeKey {
  return (SIZE_KEYS as readonly string[]).includes(key);
}

function validateSpec({ sizes }: ModelSpec): void {
  const need = (ok: boolean, message: string): void => {
    if (!ok) throw invalid(`--set: ${message}`);
  };
  const pieces = sizes['tokenizer.pieces'];
  need(pieces >= 3, `tokenizer.pieces must be at least 3 (<pad>, </s>, <unk>), got ${pieces}`);
  need(
    sizes['text_encoder.vocab_size'] >= pieces + T5_EXTRA_IDS,
    `text_encoder.vocab_size ${sizes['text_encoder.vocab_size']} is smaller than tokenizer.pieces + ${T5_EXTRA_IDS} extra ids (${pieces + T5_EXTRA_IDS})`,
  );
  need(
    sizes['decoder.hidden_size'] % sizes['decoder.num_attention_heads'] === 0,
    `decoder.hidden_size ${sizes['decoder.hidden_size']} is not divisible by decoder.num_attention_heads ${sizes['decoder.num_attention_heads']}`,
  );
  // The sinusoidal table divides by hidden_size / 2 - 1.
  need(
    sizes['decoder.hidden_size'] >= 4,
    `decoder.hidden_size must be at least 4, got ${sizes['decoder.hidden_size']}`,
  );
  need(
    sizes['decoder.audio_channels'] <= 2,
    `decoder.audio_channels must be 1 (mono) or 2 (stereo), got ${sizes['decoder.audio_channels']}`,
  );
  need(
    sizes['decoder.num_codebooks'] % sizes['decoder.audio_channels'] === 0,
    `decoder.num_codebooks ${sizes['decoder.num_codebooks']} must be a multiple of decoder.audio_channels ${sizes['decoder.audio_channels']}`,
  );
  need(
    sizes['decoder.num_codebooks'] / sizes['decoder.audio_channels'] <= ENCODEC_QUANTIZERS,
    `decoder.num_codebooks per channel must be at most ${ENCODEC_QUANTIZERS} (the EnCodec quantizers)`,
  );
  need(
    sizes['audio_encoder.num_filters'] >= 2,
    `audio_encoder.num_filters must be at least 2 (the residual blocks halve it), got ${sizes['audio_encoder.num_filters']}`,
  );
}

function invalid(message: string): MusicGenError {
  return new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', message);
}
