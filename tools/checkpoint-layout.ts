import { ENCODEC_QUANTIZERS, ENCODEC_UPSAMPLING_RATIOS, ModelSpec } from './presets';

/**
 * Every tensor of a Hugging Face MusicGen state dict (names and shapes exactly as save_pretrained writes them,
 * see docs/reference-notes.md §1) together with how to fill it with random values.
 *
 * Scales follow the fixtures' recipe (test/fixtures/README.md, "Random initialisation") so activations stay
 * O(1) through every layer: linear weights N(0, fan_in^-1/2), norms around 1, weight-norm gains chosen so each
 * EnCodec conv roughly preserves the signal's variance.
 */

export type Init =
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'constant'; value: number }
  /** MusicGen's sinusoidal position table (docs/reference-notes.md §5). */
  | { kind: 'sinusoidal' }
  /** EMA state `embed_avg = embed * cluster_size[:, None]` of an RVQ codebook, consistent with those tensors. */
  | { kind: 'embed-avg'; embed: TensorSpec; clusterSize: TensorSpec };

export interface TensorSpec {
  name: string;
  shape: number[];
  init: Init;
}

const normal = (std: number, mean = 0): Init => ({ kind: 'normal', mean, std });
const uniform = (low: number, high: number): Init => ({ kind: 'uniform', low, high });
const NORM_WEIGHT = normal(0.05, 1);
const NORM_BIAS = normal(0.05);
const CONV_BIAS = normal(0.05);
// Logit scale: lm-head outputs get a standard deviation of about 4, so sampling is neither flat nor one-hot.
const LM_HEAD_GAIN = 4;

/** All tensors of the checkpoint, sorted by name (the order safetensors files store them in). */
export function checkpointTensors(spec: ModelSpec): TensorSpec[] {
  const tensors = [...textEncoderTensors(spec), ...audioEncoderTensors(spec), ...decoderTensors(spec)];
  tensors.push(...projectionTensors(spec));
  return tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function textEncoderTensors({ sizes }: ModelSpec): TensorSpec[] {
  const d = sizes['text_encoder.d_model'];
  const dKv = sizes['text_encoder.d_kv'];
  const inner = sizes['text_encoder.num_heads'] * dKv;
  const ff = sizes['text_encoder.d_ff'];
  const prefix = 'text_encoder.encoder';
  // T5 does not scale q.k by d_kv^-1/2; the init of q does it instead (as HF's T5 init does).
  const tensors: TensorSpec[] = [
    { name: 'text_encoder.shared.weight', shape: [sizes['text_encoder.vocab_size'], d], init: normal(1) },
    {
      name: `${prefix}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`,
      shape: [32, sizes['text_encoder.num_heads']],
      init: normal(1),
    },
    { name: `${prefix}.final_layer_norm.weight`, shape: [d], init: NORM_WEIGHT },
  ];
  for (let l = 0; l < sizes['text_encoder.num_layers']; l++) {
    const block = `${prefix}.block.${l}.layer`;
    tensors.push(
      { name: `${block}.0.layer_norm.weight`, shape: [d], init: NORM_WEIGHT },
      { name: `${block}.0.SelfAttention.q.weight`, shape: [inner, d], init: normal((d * dKv) ** -0.5) },
      { name: `${block}.0.SelfAttention.k.weight`, shape: [inner, d], init: normal(d ** -0.5) },
      { name: `${block}.0.SelfAttention.v.weight`, shape: [inner, d], init: normal(d ** -0.5) },
      { name: `${block}.0.SelfAttention.o.weight`, shape: [d, inner], init: normal(inner ** -0.5) },
      { name: `${block}.1.layer_norm.weight`, shape: [d], init: NORM_WEIGHT },
      { name: `${block}.1.DenseReluDense.wi.weight`, shape: [ff, d], init: normal(d ** -0.5) },
      { name: `${block}.1.DenseReluDense.wo.weight`, shape: [d, ff], init: normal(ff ** -0.5) },
    );
  }
  return tensors;
}

function decoderTensors({ variant, sizes }: ModelSpec): TensorSpec[] {
  const h = sizes['decoder.hidden_size'];
  const ff = sizes['decoder.ffn_dim'];
  const codes = sizes['decoder.vocab_size'];
  const prefix = 'decoder.model.decoder';
  const tensors: TensorSpec[] = [
    {
      name: `${prefix}.embed_positions.weights`,
      shape: [sizes['decoder.max_position_embeddings'], h],
      init: { kind: 'sinusoidal' },
    },
    { name: `${prefix}.layer_norm.weight`, shape: [h], init: NORM_WEIGHT },
    { name: `${prefix}.layer_norm.bias`, shape: [h], init: NORM_BIAS },
  ];
  for (let k = 0; k < sizes['decoder.num_codebooks']; k++) {
    // One extra embedding row for the pad/bos code; the heads cannot predict it.
    tensors.push({ name: `${prefix}.embed_tokens.${k}.weight`, shape: [codes + 1, h], init: normal(1) });
    tensors.push({ name: `decoder.lm_heads.${k}.weight`, shape: [codes, h], init: normal(LM_HEAD_GAIN * h ** -0.5) });
  }
  // The melody decoder has no cross-attention: text and chroma are a prefix of its input instead.
  const attentions = variant === 'musicgen' ? ['self_attn', 'encoder_attn'] : ['self_attn'];
  for (let l = 0; l < sizes['decoder.num_hidden_layers']; l++) {
    const layer = `${prefix}.layers.${l}`;
    for (const attention of attentions) {
      tensors.push(
        { name: `${layer}.${attention}_layer_norm.weight`, shape: [h], init: NORM_WEIGHT },
        { name: `${layer}.${attention}_layer_norm.bias`, shape: [h], init: NORM_BIAS },
      );
      for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
        tensors.push({ name: `${layer}.${attention}.${proj}.weight`, shape: [h, h], init: normal(h ** -0.5) });
      }
    }
    tensors.push(
      { name: `${layer}.final_layer_norm.weight`, shape: [h], init: NORM_WEIGHT },
      { name: `${layer}.final_layer_norm.bias`, shape: [h], init: NORM_BIAS },
      { name: `${layer}.fc1.weight`, shape: [ff, h], init: normal(h ** -0.5) },
      { name: `${layer}.fc2.weight`, shape: [h, ff], init: normal(ff ** -0.5) },
    );
  }
  return tensors;
}

/** HF only creates these Linear layers when the widths differ (always true for the real checkpoints). */
function projectionTensors({ variant, sizes }: ModelSpec): TensorSpec[] {
  const h = sizes['decoder.hidden_size'];
  const d = sizes['text_encoder.d_model'];
  const tensors: TensorSpec[] = [];
  if (d !== h) {
    tensors.push(
      { name: 'enc_to_dec_proj.weight', shape: [h, d], init: normal(d ** -0.5) },
      { name: 'enc_to_dec_proj.bias', shape: [h], init: normal(0.1) },
    );
  }
  if (variant === 'musicgen_melody' && sizes.num_chroma !== h) {
    // Its input is a one-hot chroma frame, so each column is one pitch class's embedding.
    tensors.push(
      { name: 'audio_enc_to_dec_proj.weight', shape: [h, sizes.num_chroma], init: normal(1) },
      { name: 'audio_enc_to_dec_proj.bias', shape: [h], init: normal(0.1) },
    );
  }
  return tensors;
}

const ENCODEC_KERNEL = 7;
const ENCODEC_RESIDUAL_KERNEL = 3;
const ENCODEC_COMPRESS = 2;
// The decoder's last conv writes the waveform; a gain below 1 keeps random audio well inside [-1, 1].
const WAVEFORM_GAIN = 0.3;

/** A module of a SEANet stack, given its `...layers.{i}` prefix; null marks a parameter-free ELU. */
type ModuleTensors = (prefix: string) => TensorSpec[];
type Module = ModuleTensors | null;
const ELU: Module = null;

/** SEANet encoder/decoder of encodec_32khz in HF's EncodecEncoder / EncodecDecoder module order, plus its RVQ. */
function audioEncoderTensors({ sizes }: ModelSpec): TensorSpec[] {
  const filters = sizes['audio_encoder.num_filters'];
  const hidden = sizes['audio_encoder.hidden_size'];
  const residualLayers = sizes['audio_encoder.num_residual_layers'];
  const lstmLayers = sizes['audio_encoder.num_lstm_layers'];

  const encoder: Module[] = [conv(1, filters, ENCODEC_KERNEL)];
  let channels = filters;
  for (const ratio of [...ENCODEC_UPSAMPLING_RATIOS].reverse()) {
    for (let j = 0; j < residualLayers; j++) encoder.push(resnetBlock(channels));
    encoder.push(ELU, conv(channels, 2 * channels, 2 * ratio));
    channels *= 2;
  }
  encoder.push(lstm(channels, lstmLayers), ELU, conv(channels, hidden, ENCODEC_KERNEL));

  const decoder: Module[] = [conv(hidden, channels, ENCODEC_KERNEL), lstm(channels, lstmLayers)];
  for (const ratio of ENCODEC_UPSAMPLING_RATIOS) {
    decoder.push(ELU, convTranspose(channels, channels / 2, ratio));
    channels /= 2;
    for (let j = 0; j < residualLayers; j++) decoder.push(resnetBlock(channels));
  }
  decoder.push(ELU, conv(channels, 1, ENCODEC_KERNEL, WAVEFORM_GAIN));

  const tensors = [
    ...stackTensors('audio_encoder.encoder', encoder),
    ...stackTensors('audio_encoder.decoder', decoder),
  ];
  const codebookSize = sizes['audio_encoder.codebook_size'];
  for (let q = 0; q < ENCODEC_QUANTIZERS; q++) {
    const prefix = `audio_encoder.quantizer.layers.${q}.codebook`;
    // Unit-variance codes match the unit-variance encoder output.
    const embed: TensorSpec = { name: `${prefix}.embed`, shape: [codebookSize, hidden], init: normal(1) };
    const clusterSize: TensorSpec = { name: `${prefix}.cluster_size`, shape: [codebookSize], init: uniform(1, 100) };
    tensors.push(embed, clusterSize, {
      name: `${prefix}.embed_avg`,
      shape: [codebookSize, hidden],
      init: { kind: 'embed-avg', embed, clusterSize },
    });
    tensors.push({ name: `${prefix}.inited`, shape: [1], init: { kind: 'constant', value: 1 } });
  }
  return tensors;
}

function stackTensors(prefix: string, modules: Module[]): TensorSpec[] {
  return modules.flatMap((module, index) => (module ? module(`${prefix}.layers.${index}`) : []));
}

/**
 * Weight-normalised Conv1d (legacy weight_g / weight_v names). With v ~ N(0,1) the effective weight row is
 * g * v / |v|, so g = gain keeps the output variance about gain^2 times the input's.
 */
function conv(cin: number, cout: number, kernel: number, gain = 1): ModuleTensors {
  return (prefix) => [
    { name: `${prefix}.conv.weight_g`, shape: [cout, 1, 1], init: uniform(0.9 * gain, 1.1 * gain) },
    { name: `${prefix}.conv.weight_v`, shape: [cout, cin, kernel], init: normal(1) },
    { name: `${prefix}.conv.bias`, shape: [cout], init: CONV_BIAS },
  ];
}

/**
 * Weight-normalised ConvTranspose1d (kernel 2*stride): torch stores it [in, out, k] and weight_norm normalises
 * per input channel. Each output sample sums cin * 2 taps of variance g^2 / (cout * 2 * stride), hence
 * g = sqrt(cout * stride / cin) preserves the variance.
 */
function convTranspose(cin: number, cout: number, stride: number): ModuleTensors {
  const gain = Math.sqrt((cout * stride) / cin);
  return (prefix) => [
    { name: `${prefix}.conv.weight_g`, shape: [cin, 1, 1], init: uniform(0.9 * gain, 1.1 * gain) },
    { name: `${prefix}.conv.weight_v`, shape: [cin, cout, 2 * stride], init: normal(1) },
    { name: `${prefix}.conv.bias`, shape: [cout], init: CONV_BIAS },
  ];
}

/** EncodecResnetBlock: ELU, conv k3 dim -> dim/2, ELU, conv k1 back to dim (ELUs at block.0 / block.2). */
function resnetBlock(dim: number): ModuleTensors {
  const inner = Math.floor(dim / ENCODEC_COMPRESS);
  const first = conv(dim, inner, ENCODEC_RESIDUAL_KERNEL);
  const second = conv(inner, dim, 1);
  return (prefix) => [...first(`${prefix}.block.1`), ...second(`${prefix}.block.3`)];
}

function lstm(channels: number, layers: number): ModuleTensors {
  const std = channels ** -0.5;
  return (prefix) =>
    Array.from({ length: layers }, (_, l) => [
      { name: `${prefix}.lstm.weight_ih_l${l}`, shape: [4 * channels, channels], init: normal(std) },
      { name: `${prefix}.lstm.weight_hh_l${l}`, shape: [4 * channels, channels], init: normal(std) },
      { name: `${prefix}.lstm.bias_ih_l${l}`, shape: [4 * channels], init: normal(0.1) },
      { name: `${prefix}.lstm.bias_hh_l${l}`, shape: [4 * channels], init: normal(0.1) },
    ]).flat();
}
