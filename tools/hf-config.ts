import { pyFloat, PyJson } from './py-json';
import { ENCODEC_UPSAMPLING_RATIOS, ModelSpec, T5_EXTRA_IDS } from './presets';

/**
 * The small JSON files of a MusicGen hub folder, key for key as transformers 4.43.4 writes them (the layout of
 * test/fixtures/musicgen-*-tiny); only the sizes come from the ModelSpec.
 */

export type WeightDtype = 'f32' | 'f16';

const TRANSFORMERS_VERSION = '4.43.4';

/** Every sub-config carries PretrainedConfig's generation/serialization defaults. */
function pretrainedDefaults(): Record<string, PyJson> {
  return {
    _name_or_path: '',
    add_cross_attention: false,
    architectures: null,
    bad_words_ids: null,
    begin_suppress_tokens: null,
    chunk_size_feed_forward: 0,
    cross_attention_hidden_size: null,
    diversity_penalty: pyFloat(0),
    do_sample: false,
    early_stopping: false,
    encoder_no_repeat_ngram_size: 0,
    exponential_decay_length_penalty: null,
    finetuning_task: null,
    forced_bos_token_id: null,
    forced_eos_token_id: null,
    id2label: { '0': 'LABEL_0', '1': 'LABEL_1' },
    is_decoder: false,
    label2id: { LABEL_0: 0, LABEL_1: 1 },
    length_penalty: pyFloat(1),
    max_length: 20,
    min_length: 0,
    no_repeat_ngram_size: 0,
    num_beam_groups: 1,
    num_beams: 1,
    num_return_sequences: 1,
    output_attentions: false,
    output_hidden_states: false,
    output_scores: false,
    prefix: null,
    problem_type: null,
    pruned_heads: {},
    remove_invalid_values: false,
    repetition_penalty: pyFloat(1),
    return_dict: true,
    return_dict_in_generate: false,
    sep_token_id: null,
    suppress_tokens: null,
    task_specific_params: null,
    temperature: pyFloat(1),
    tf_legacy_loss: false,
    tie_encoder_decoder: false,
    tokenizer_class: null,
    top_k: 50,
    top_p: pyFloat(1),
    torch_dtype: null,
    torchscript: false,
    typical_p: pyFloat(1),
    use_bfloat16: false,
  };
}

function textEncoderConfig({ sizes }: ModelSpec): PyJson {
  return {
    ...pretrainedDefaults(),
    bos_token_id: null,
    classifier_dropout: pyFloat(0),
    d_ff: sizes['text_encoder.d_ff'],
    d_kv: sizes['text_encoder.d_kv'],
    d_model: sizes['text_encoder.d_model'],
    decoder_start_token_id: 0,
    dense_act_fn: 'relu',
    dropout_rate: pyFloat(0.1),
    eos_token_id: 1,
    feed_forward_proj: 'relu',
    initializer_factor: pyFloat(1),
    is_encoder_decoder: true,
    is_gated_act: false,
    layer_norm_epsilon: pyFloat(1e-6),
    model_type: 't5',
    n_positions: 512,
    num_decoder_layers: sizes['text_encoder.num_layers'],
    num_heads: sizes['text_encoder.num_heads'],
    num_layers: sizes['text_encoder.num_layers'],
    pad_token_id: 0,
    relative_attention_max_distance: 128,
    relative_attention_num_buckets: 32,
    tie_word_embeddings: true,
    use_cache: true,
    vocab_size: sizes['text_encoder.vocab_size'],
  };
}

function audioEncoderConfig({ sizes }: ModelSpec): PyJson {
  return {
    ...pretrainedDefaults(),
    audio_channels: 1,
    bos_token_id: null,
    chunk_length_s: null,
    codebook_dim: sizes['audio_encoder.hidden_size'],
    codebook_size: sizes['audio_encoder.codebook_size'],
    compress: 2,
    decoder_start_token_id: null,
    dilation_growth_rate: 2,
    eos_token_id: null,
    hidden_size: sizes['audio_encoder.hidden_size'],
    is_encoder_decoder: false,
    kernel_size: 7,
    last_kernel_size: 7,
    model_type: 'encodec',
    norm_type: 'weight_norm',
    normalize: false,
    num_filters: sizes['audio_encoder.num_filters'],
    num_lstm_layers: sizes['audio_encoder.num_lstm_layers'],
    num_residual_layers: sizes['audio_encoder.num_residual_layers'],
    overlap: null,
    pad_mode: 'reflect',
    pad_token_id: null,
    residual_kernel_size: 3,
    sampling_rate: 32000,
    target_bandwidths: [pyFloat(2.2)],
    tie_word_embeddings: true,
    trim_right_ratio: pyFloat(1),
    upsampling_ratios: [...ENCODEC_UPSAMPLING_RATIOS],
    use_causal_conv: false,
    use_conv_shortcut: false,
  };
}

function decoderConfig({ variant, sizes }: ModelSpec): PyJson {
  const padCode = sizes['decoder.vocab_size'];
  return {
    ...pretrainedDefaults(),
    activation_dropout: pyFloat(0),
    activation_function: 'gelu',
    attention_dropout: pyFloat(0),
    audio_channels: sizes['decoder.audio_channels'],
    bos_token_id: padCode,
    decoder_start_token_id: null,
    dropout: pyFloat(0.1),
    eos_token_id: null,
    ffn_dim: sizes['decoder.ffn_dim'],
    hidden_size: sizes['decoder.hidden_size'],
    initializer_factor: pyFloat(0.02),
    is_encoder_decoder: false,
    layerdrop: pyFloat(0),
    max_position_embeddings: sizes['decoder.max_position_embeddings'],
    model_type: variant === 'musicgen' ? 'musicgen_decoder' : 'musicgen_melody_decoder',
    num_attention_heads: sizes['decoder.num_attention_heads'],
    num_codebooks: sizes['decoder.num_codebooks'],
    num_hidden_layers: sizes['decoder.num_hidden_layers'],
    pad_token_id: padCode,
    scale_embedding: false,
    tie_word_embeddings: false,
    use_cache: true,
    vocab_size: sizes['decoder.vocab_size'],
  };
}

export function modelConfig(spec: ModelSpec, dtype: WeightDtype): PyJson {
  const common = {
    audio_encoder: audioEncoderConfig(spec),
    decoder: decoderConfig(spec),
    text_encoder: textEncoderConfig(spec),
    torch_dtype: dtype === 'f16' ? 'float16' : 'float32',
    transformers_version: TRANSFORMERS_VERSION,
  };
  if (spec.variant === 'musicgen') {
    return {
      ...common,
      architectures: ['MusicgenForConditionalGeneration'],
      is_encoder_decoder: true,
      model_type: 'musicgen',
    };
  }
  return {
    ...common,
    architectures: ['MusicgenMelodyForConditionalGeneration'],
    chroma_length: spec.sizes.chroma_length,
    model_type: 'musicgen_melody',
    num_chroma: spec.sizes.num_chroma,
  };
}

/** What transformers' MusicGen conversion scripts set: sampling, guidance 3, 1500 tokens, pad code as bos. */
export function generationConfig({ sizes }: ModelSpec): PyJson {
  const padCode = sizes['decoder.vocab_size'];
  return {
    _from_model_config: true,
    bos_token_id: padCode,
    decoder_start_token_id: padCode,
    do_sample: true,
    guidance_scale: pyFloat(3),
    max_length: 1500,
    pad_token_id: padCode,
    transformers_version: TRANSFORMERS_VERSION,
  };
}

export function preprocessorConfig({ variant, sizes }: ModelSpec): PyJson {
  if (variant === 'musicgen_melody') {
    // The chroma extractor's defaults; stereo-melody checkpoints downmix, so feature_size stays 12 chroma bins.
    return {
      chunk_length: 30,
      feature_extractor_type: 'MusicgenMelodyFeatureExtractor',
      feature_size: sizes.num_chroma,
      hop_length: 4096,
      n_fft: 16384,
      n_samples: 960000,
      padding_side: 'right',
      padding_value: pyFloat(0),
      processor_class: 'MusicgenMelodyProcessor',
      return_attention_mask: false,
      sampling_rate: 32000,
      stem_indices: [3, 2],
    };
  }
  return {
    chunk_length_s: null,
    feature_extractor_type: 'EncodecFeatureExtractor',
    feature_size: sizes['decoder.audio_channels'],
    overlap: null,
    padding_side: 'left',
    padding_value: pyFloat(0),
    processor_class: 'MusicgenProcessor',
    return_attention_mask: true,
    sampling_rate: 32000,
  };
}

function specialToken(content: string, strip: boolean): Record<string, PyJson> {
  return { content, lstrip: strip, normalized: false, rstrip: strip, single_word: false };
}

function extraIdNames(): string[] {
  return Array.from({ length: T5_EXTRA_IDS }, (_, n) => `<extra_id_${n}>`);
}

/** T5Tokenizer.save_pretrained output: `<extra_id_N>` has id pieces + 99 - N. */
export function tokenizerConfig({ variant, sizes }: ModelSpec): PyJson {
  const pieces = sizes['tokenizer.pieces'];
  const addedTokens: Record<string, PyJson> = {
    '0': { ...specialToken('<pad>', false), special: true },
    '1': { ...specialToken('</s>', false), special: true },
    '2': { ...specialToken('<unk>', false), special: true },
  };
  for (let n = 0; n < T5_EXTRA_IDS; n++) {
    addedTokens[String(pieces + T5_EXTRA_IDS - 1 - n)] = { ...specialToken(`<extra_id_${n}>`, true), special: true };
  }
  return {
    add_prefix_space: true,
    added_tokens_decoder: addedTokens,
    additional_special_tokens: extraIdNames(),
    clean_up_tokenization_spaces: true,
    eos_token: '</s>',
    extra_ids: T5_EXTRA_IDS,
    legacy: true,
    model_max_length: 512,
    pad_token: '<pad>',
    processor_class: variant === 'musicgen' ? 'MusicgenProcessor' : 'MusicgenMelodyProcessor',
    sp_model_kwargs: {},
    tokenizer_class: 'T5Tokenizer',
    unk_token: '<unk>',
  };
}

export function specialTokensMap(): PyJson {
  return {
    additional_special_tokens: extraIdNames(),
    eos_token: specialToken('</s>', false),
    pad_token: specialToken('<pad>', false),
    unk_token: specialToken('<unk>', false),
  };
}
