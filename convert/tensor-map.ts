// The Hugging Face -> GGUF tensor map (docs/gguf-format.md): every GGUF tensor, the HF tensor(s) it is built from,
// and the shape each HF tensor must have, derived from config.json so a mismatch names the config field.
import type { CodecConfig, MusicgenConfig } from './hf-config';

/** One expected dimension and the config.json field(s) it comes from (for error messages). */
export interface Dim {
  size: number;
  from: string;
}

/** How strongly a tensor may be compressed (docs/gguf-format.md "Data types and the quantisation policy"). */
export type TensorRole = 'quantizable' | 'f32' | 'f16-max';

export interface SourceRef {
  hf: string;
  shape: Dim[];
}

export interface TensorPlan {
  /** GGUF tensor name. */
  name: string;
  /** PyTorch order (outermost first); GGUF dims are this reversed. */
  shape: number[];
  role: TensorRole;
  /** `copy`: inputs[0] as is. `weight-norm`: inputs [g, v], W = g * v / ||v|| per index of dim 0. */
  build: 'copy' | 'weight-norm';
  inputs: SourceRef[];
}

/** Tensors that exist in HF checkpoints but are not used for inference. */
export function isIgnoredTensor(name: string): boolean {
  return (
    /^audio_encoder\.quantizer\.layers\.\d+\.codebook\.(embed_avg|cluster_size|inited)$/.test(name) ||
    name === 'text_encoder.encoder.embed_tokens.weight'
  );
}

const fixed = (size: number): Dim => ({ size, from: '' });

class Planner {
  readonly plans: TensorPlan[] = [];
  constructor(readonly has: (hf: string) => boolean) {}

  /** The first candidate name present in the checkpoint, or the first one (so a missing tensor is named). */
  pick(...candidates: string[]): string {
    return candidates.find((c) => this.has(c)) ?? candidates[0]!;
  }

  copy(name: string, role: TensorRole, hf: string, shape: Dim[]): void {
    this.plans.push({ name, shape: shape.map((d) => d.size), role, build: 'copy', inputs: [{ hf, shape }] });
  }

  /** A weight-normed convolution: legacy weight_g/weight_v or parametrizations.weight.original0/1. */
  conv(name: string, hfModule: string, weightShape: Dim[], biasDim: Dim): void {
    const legacy = `${hfModule}.weight_g`;
    const param = `${hfModule}.parametrizations.weight.original0`;
    const useParam = !this.has(legacy) && this.has(param);
    const g = useParam ? param : legacy;
    const v = useParam ? `${hfModule}.parametrizations.weight.original1` : `${hfModule}.weight_v`;
    const normShape = [weightShape[0]!, fixed(1), fixed(1)];
    this.plans.push({
      name: `${name}.weight`,
      shape: weightShape.map((d) => d.size),
      role: 'f16-max',
      build: 'weight-norm',
      inputs: [
        { hf: g, shape: normShape },
        { hf: v, shape: weightShape },
      ],
    });
    this.copy(`${name}.bias`, 'f32', `${hfModule}.bias`, [biasDim]);
  }
}

function planT5(p: Planner, cfg: MusicgenConfig): void {
  const t = cfg.t5;
  const D: Dim = { size: t.dModel, from: 'text_encoder.d_model' };
  const inner: Dim = { size: t.numHeads * t.dKv, from: 'text_encoder.num_heads*d_kv' };
  const ff: Dim = { size: t.dFf, from: 'text_encoder.d_ff' };
  const pre = 'text_encoder.encoder';
  p.copy('t5.token_embd.weight', 'quantizable', p.pick('text_encoder.shared.weight', `${pre}.embed_tokens.weight`), [
    { size: t.vocabSize, from: 'text_encoder.vocab_size' },
    D,
  ]);
  p.copy('t5.rel_bias.weight', 'f32', `${pre}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`, [
    { size: t.relativeBuckets, from: 'text_encoder.relative_attention_num_buckets' },
    { size: t.numHeads, from: 'text_encoder.num_heads' },
  ]);
  for (let l = 0; l < t.numLayers; l++) {
    const b = `${pre}.block.${l}`;
    const g = `t5.blk.${l}`;
    p.copy(`${g}.attn_norm.weight`, 'f32', `${b}.layer.0.layer_norm.weight`, [D]);
    for (const x of ['q', 'k', 'v']) {
      p.copy(`${g}.attn_${x}.weight`, 'quantizable', `${b}.layer.0.SelfAttention.${x}.weight`, [inner, D]);
    }
    p.copy(`${g}.attn_o.weight`, 'quantizable', `${b}.layer.0.SelfAttention.o.weight`, [D, inner]);
    p.copy(`${g}.ffn_norm.weight`, 'f32', `${b}.layer.1.layer_norm.weight`, [D]);
    const ffn = `${b}.layer.1.DenseReluDense`;
    if (t.feedForwardAct === 'gated-gelu') {
      p.copy(`${g}.ffn_up.weight`, 'quantizable', `${ffn}.wi_1.weight`, [ff, D]);
      p.copy(`${g}.ffn_gate.weight`, 'quantizable', `${ffn}.wi_0.weight`, [ff, D]);
    } else {
      p.copy(`${g}.ffn_up.weight`, 'quantizable', `${ffn}.wi.weight`, [ff, D]);
    }
    p.copy(`${g}.ffn_down.weight`, 'quantizable', `${ffn}.wo.weight`, [D, ff]);
  }
  p.copy('t5.output_norm.weight', 'f32', `${pre}.final_layer_norm.weight`, [D]);
}

function planConditioning(p: Planner, cfg: MusicgenConfig): void {
  const H: Dim = { size: cfg.decoder.hiddenSize, from: 'decoder.hidden_size' };
  // transformers creates the projection only when the widths differ; accept it when present anyway.
  if (cfg.t5.dModel !== cfg.decoder.hiddenSize || p.has('enc_to_dec_proj.weight')) {
    p.copy('cond.text_proj.weight', 'f32', 'enc_to_dec_proj.weight', [
      H,
      { size: cfg.t5.dModel, from: 'text_encoder.d_model' },
    ]);
    p.copy('cond.text_proj.bias', 'f32', 'enc_to_dec_proj.bias', [H]);
  }
  if (cfg.melody && (cfg.melody.numChroma !== cfg.decoder.hiddenSize || p.has('audio_enc_to_dec_proj.weight'))) {
    p.copy('cond.chroma_proj.weight', 'f32', 'audio_enc_to_dec_proj.weight', [
      H,
      { size: cfg.melody.numChroma, from: 'num_chroma' },
    ]);
    p.copy('cond.chroma_proj.bias', 'f32', 'audio_enc_to_dec_proj.bias', [H]);
  }
}

function planDecoder(p: Planner, cfg: MusicgenConfig): void {
  const d = cfg.decoder;
  const H: Dim = { size: d.hiddenSize, from: 'decoder.hidden_size' };
  const F: Dim = { size: d.ffnDim, from: 'decoder.ffn_dim' };
  const pre = 'decoder.model.decoder';
  for (let k = 0; k < d.numCodebooks; k++) {
    p.copy(`lm.tok_embd.${k}.weight`, 'quantizable', `${pre}.embed_tokens.${k}.weight`, [
      { size: d.codebookSize + 1, from: 'decoder.vocab_size+1' },
      H,
    ]);
  }
  p.copy('lm.pos_embd.weight', 'f32', `${pre}.embed_positions.weights`, [
    { size: d.maxPositions, from: 'decoder.max_position_embeddings' },
    H,
  ]);
  const norm = (gguf: string, hf: string) => {
    p.copy(`${gguf}.weight`, 'f32', `${hf}.weight`, [H]);
    p.copy(`${gguf}.bias`, 'f32', `${hf}.bias`, [H]);
  };
  for (let l = 0; l < d.numLayers; l++) {
    const b = `${pre}.layers.${l}`;
    const g = `lm.blk.${l}`;
    norm(`${g}.attn_norm`, `${b}.self_attn_layer_norm`);
    for (const [x, hf] of [
      ['q', 'q'],
      ['k', 'k'],
      ['v', 'v'],
      ['o', 'out'],
    ]) {
      p.copy(`${g}.attn_${x}.weight`, 'quantizable', `${b}.self_attn.${hf}_proj.weight`, [H, H]);
    }
    if (cfg.variant === 'text') {
      norm(`${g}.cross_attn_norm`, `${b}.encoder_attn_layer_norm`);
      for (const [x, hf] of [
        ['q', 'q'],
        ['k', 'k'],
        ['v', 'v'],
        ['o', 'out'],
      ]) {
        p.copy(`${g}.cross_attn_${x}.weight`, 'quantizable', `${b}.encoder_attn.${hf}_proj.weight`, [H, H]);
      }
    }
    norm(`${g}.ffn_norm`, `${b}.final_layer_norm`);
    p.copy(`${g}.ffn_up.weight`, 'quantizable', `${b}.fc1.weight`, [F, H]);
    p.copy(`${g}.ffn_down.weight`, 'quantizable', `${b}.fc2.weight`, [H, F]);
  }
  norm('lm.output_norm', `${pre}.layer_norm`);
  for (let k = 0; k < d.numCodebooks; k++) {
    p.copy(`lm.output.${k}.weight`, 'quantizable', `decoder.lm_heads.${k}.weight`, [
      { size: d.codebookSize, from: 'decoder.vocab_size' },
      H,
    ]);
  }
}

/** Channel width at a point of the SEANet stacks: num_filters * 2^scale. */
function width(c: CodecConfig, scale: number): Dim {
  return { size: c.numFilters * 2 ** scale, from: `audio_encoder.num_filters*${2 ** scale}` };
}

function kernel(size: number, from: string): Dim {
  return { size, from: `audio_encoder.${from}` };
}

function planLstm(p: Planner, c: CodecConfig, gguf: string, hf: string, C: Dim): void {
  const gates: Dim = { size: 4 * C.size, from: `4*${C.from}` };
  for (let n = 0; n < c.numLstmLayers; n++) {
    p.copy(`${gguf}.lstm.${n}.w_ih`, 'f16-max', `${hf}.lstm.weight_ih_l${n}`, [gates, C]);
    p.copy(`${gguf}.lstm.${n}.w_hh`, 'f16-max', `${hf}.lstm.weight_hh_l${n}`, [gates, C]);
    p.copy(`${gguf}.lstm.${n}.b_ih`, 'f32', `${hf}.lstm.bias_ih_l${n}`, [gates]);
    p.copy(`${gguf}.lstm.${n}.b_hh`, 'f32', `${hf}.lstm.bias_hh_l${n}`, [gates]);
  }
}

function planResBlocks(p: Planner, c: CodecConfig, side: 'enc' | 'dec', first: number, dim: Dim): number {
  const hidden: Dim = { size: Math.floor(dim.size / c.compress), from: `${dim.from}/audio_encoder.compress` };
  const residual = kernel(c.residualKernelSize, 'residual_kernel_size');
  const hfSide = side === 'enc' ? 'encoder' : 'decoder';
  for (let j = 0; j < c.numResidualLayers; j++) {
    const i = first + j;
    const hf = `audio_encoder.${hfSide}.layers.${i}.block`;
    p.conv(`codec.${side}.${i}.res.1`, `${hf}.1.conv`, [hidden, dim, residual], hidden);
    p.conv(`codec.${side}.${i}.res.3`, `${hf}.3.conv`, [dim, hidden, fixed(1)], dim);
  }
  return first + c.numResidualLayers;
}

/** Layer indices follow transformers' EncodecEncoder/EncodecDecoder module lists for any number of ratios. */
function planCodec(p: Planner, cfg: MusicgenConfig): void {
  const c = cfg.codec;
  const hidden: Dim = { size: c.hiddenSize, from: 'audio_encoder.hidden_size' };
  const channels: Dim = { size: c.audioChannels, from: 'audio_encoder.audio_channels' };
  const k = kernel(c.kernelSize, 'kernel_size');
  const lastK = kernel(c.lastKernelSize, 'last_kernel_size');
  const R = c.upsamplingRatios.length;
  const dec = 'audio_encoder.decoder.layers';
  const enc = 'audio_encoder.encoder.layers';

  // Decoder: conv, LSTM, then per ratio (ELU, ConvTranspose, residual blocks), ELU, conv.
  let i = 0;
  p.conv(`codec.dec.${i}.conv`, `${dec}.${i}.conv`, [width(c, R), hidden, k], width(c, R));
  i++;
  planLstm(p, c, `codec.dec.${i}`, `${dec}.${i}`, width(c, R));
  i++;
  c.upsamplingRatios.forEach((ratio, r) => {
    i++; // ELU
    const inW = width(c, R - r);
    const outW = width(c, R - r - 1);
    p.conv(
      `codec.dec.${i}.conv`,
      `${dec}.${i}.conv`,
      [inW, outW, { size: 2 * ratio, from: `2*audio_encoder.upsampling_ratios[${r}]` }],
      outW,
    );
    i = planResBlocks(p, c, 'dec', i + 1, outW);
  });
  i++; // ELU
  p.conv(`codec.dec.${i}.conv`, `${dec}.${i}.conv`, [channels, width(c, 0), lastK], channels);

  // Encoder: conv, then per reversed ratio (residual blocks, ELU, strided conv), LSTM, ELU, conv.
  i = 0;
  p.conv(`codec.enc.${i}.conv`, `${enc}.${i}.conv`, [width(c, 0), channels, k], width(c, 0));
  i++;
  [...c.upsamplingRatios].reverse().forEach((ratio, r) => {
    i = planResBlocks(p, c, 'enc', i, width(c, r));
    i++; // ELU
    const kr = { size: 2 * ratio, from: `2*audio_encoder.upsampling_ratios[${R - 1 - r}]` };
    p.conv(`codec.enc.${i}.conv`, `${enc}.${i}.conv`, [width(c, r + 1), width(c, r), kr], width(c, r + 1));
    i++;
  });
  planLstm(p, c, `codec.enc.${i}`, `${enc}.${i}`, width(c, R));
  i += 2; // LSTM, ELU
  p.conv(`codec.enc.${i}.conv`, `${enc}.${i}.conv`, [hidden, width(c, R), lastK], hidden);

  for (let q = 0; q < c.quantizerCount; q++) {
    p.copy(`codec.rvq.${q}.codebook`, 'f32', `audio_encoder.quantizer.layers.${q}.codebook.embed`, [
      { size: c.codebookSize, from: 'audio_encoder.codebook_size' },
      hidden,
    ]);
  }
}

/** Every GGUF tensor of the model described by `cfg`, in file order. `has` tells which optional names exist. */
export function planTensors(cfg: MusicgenConfig, has: (hf: string) => boolean): TensorPlan[] {
  const p = new Planner(has);
  planT5(p, cfg);
  planConditioning(p, cfg);
  planDecoder(p, cfg);
  planCodec(p, cfg);
  return p.plans;
}
