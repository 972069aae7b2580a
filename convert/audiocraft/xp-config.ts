// An audiocraft export's `xp.cfg` (the OmegaConf YAML dump of the training config) read into the LM
// hyper-parameters the converter needs, refusing every setting the Hugging Face layout (and so our runtime) cannot
// express: another solver or LM class, biases in attention/FF, other positional embeddings, codebook patterns or
// fusers. Interpolations such as `${sample_rate}` are resolved for the values read.
import { parse as parseYaml } from 'yaml';
import { ConvertError } from '../../lib/errors';

/** What xp.cfg says about the LM; sizes are cross-checked against tensor shapes by the caller. */
export interface AudiocraftLmConfig {
  variant: 'text' | 'melody';
  dim: number;
  numHeads: number;
  numLayers: number;
  /** int(hidden_scale * dim), as audiocraft builds the FF width. */
  ffnDim: number;
  numCodebooks: number;
  codebookSize: number;
  channels: 1 | 2;
  sampleRate: number;
  /** classifier_free_guidance.inference_coef, when present. */
  guidanceScale: number | undefined;
  /** dataset.segment_duration in seconds, when present. */
  segmentDuration: number | undefined;
  /** conditioners.description.t5.name (t5-base for every Meta model). */
  t5Name: string | undefined;
  /** compression_model_checkpoint, e.g. //pretrained/facebook/encodec_32khz. */
  compressionCheckpoint: string | undefined;
  melody: { numChroma: number; nFft: number } | undefined;
}

/** The SEANet / RVQ settings of a full EnCodec export's xp.cfg (compression solver). */
export interface AudiocraftCodecConfig {
  sampleRate: number;
  channels: number;
  dimension: number;
  nFilters: number;
  nResidualLayers: number;
  ratios: number[];
  kernelSize: number;
  residualKernelSize: number;
  lastKernelSize: number;
  dilationBase: number;
  compress: number;
  lstm: number;
  causal: boolean;
  padMode: string;
  nQ: number;
  bins: number;
}

type Node = Record<string, unknown>;

/** Dotted-path reader over the parsed YAML; every error names xp.cfg's key and the file. */
export class XpConfig {
  private readonly root: Node;

  constructor(
    text: string,
    readonly file: string,
  ) {
    let parsed: unknown;
    try {
      // Warnings would go to process.emitWarning (stderr); errors still throw. Aliases stay capped (maxAliasCount).
      parsed = parseYaml(text, { logLevel: 'error', maxAliasCount: 100 });
    } catch (error) {
      throw new ConvertError(`xp.cfg is not valid YAML (${(error as Error).message})`, file);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new ConvertError('xp.cfg is not a YAML mapping', file);
    this.root = parsed as Node;
  }

  fail(key: string, found: unknown, expected: string): never {
    const what = found === undefined ? 'is missing' : `is ${JSON.stringify(found)}`;
    throw new ConvertError(`xp.cfg ${key} ${what}, expected ${expected}`, this.file);
  }

  /** The value at a dotted path, `${a.b}` interpolations followed (at most 10 hops); undefined when absent. */
  get(key: string, hops = 0): unknown {
    let node: unknown = this.root;
    for (const part of key.split('.')) {
      if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
      node = (node as Node)[part];
    }
    if (typeof node === 'string' && node.includes('${')) {
      const ref = /^\$\{([A-Za-z_][\w.]*)\}$/.exec(node);
      if (!ref || hops >= 10) this.fail(key, node, 'a value or a plain ${key} interpolation');
      return this.get(ref[1]!, hops + 1);
    }
    return node;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined && this.get(key) !== null;
  }

  int(key: string, min = 1): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(key, v, `an integer >= ${min}`);
    return v;
  }

  num(key: string): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(key, v, 'a positive number');
    return v;
  }

  str(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string') this.fail(key, v, 'a string');
    return v;
  }

  optionalStr(key: string): string | undefined {
    const v = this.get(key);
    return typeof v === 'string' ? v : undefined;
  }

  strList(key: string): string[] {
    const v = this.get(key) ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.fail(key, v, 'a list of names');
    return v as string[];
  }

  intList(key: string): number[] {
    const v = this.get(key);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x)))
      this.fail(key, v, 'a non-empty list of integers');
    return v as number[];
  }

  /** `key` must equal `expected` when present (absent = audiocraft's default, which is `expected`). */
  expect(key: string, expected: unknown, why: string): void {
    const v = this.get(key);
    if (v !== undefined && v !== expected) this.fail(key, v, `${JSON.stringify(expected)} (${why})`);
  }
}

const SAME = (list: string[], expected: string[]): boolean =>
  list.length === expected.length && list.every((x, i) => x === expected[i]);

/** Reads and checks an LM export's xp.cfg (solver musicgen, lm_model transformer_lm). */
export function readLmConfig(cfg: XpConfig): AudiocraftLmConfig {
  const solver = cfg.get('solver');
  if (solver !== undefined && solver !== 'musicgen')
    cfg.fail('solver', solver, '"musicgen" (this is not a MusicGen language-model checkpoint)');
  const lmModel = cfg.get('lm_model');
  if (lmModel !== 'transformer_lm') cfg.fail('lm_model', lmModel, '"transformer_lm" (the only LM class MusicGen uses)');
  const t = 'transformer_lm';
  const unsupported = 'the Hugging Face MusicGen layout has no such variant';
  cfg.expect(`${t}.bias_ff`, false, unsupported);
  cfg.expect(`${t}.bias_attn`, false, unsupported);
  cfg.expect(`${t}.bias_proj`, false, unsupported);
  cfg.expect(`${t}.activation`, 'gelu', unsupported);
  cfg.expect(`${t}.norm`, 'layer_norm', unsupported);
  cfg.expect(`${t}.norm_first`, true, unsupported);
  cfg.expect(`${t}.positional_embedding`, 'sin', unsupported);
  cfg.expect(`${t}.xpos`, false, unsupported);
  cfg.expect(`${t}.qk_layer_norm`, false, unsupported);
  cfg.expect(`${t}.qk_layer_norm_cross`, false, unsupported);
  cfg.expect(`${t}.kv_repeat`, 1, unsupported);
  cfg.expect(`${t}.layer_scale`, null, unsupported);
  cfg.expect(`${t}.custom`, false, unsupported);
  cfg.expect(`${t}.causal`, true, unsupported);
  cfg.expect(`${t}.past_context`, null, unsupported);

  const dim = cfg.int(`${t}.dim`);
  const numHeads = cfg.int(`${t}.num_heads`);
  if (dim % numHeads !== 0) cfg.fail(`${t}.num_heads`, numHeads, `a divisor of transformer_lm.dim (${dim})`);
  const numCodebooks = cfg.int(`${t}.n_q`);
  const channels = cfg.has('channels') ? cfg.int('channels') : 1;
  if (channels !== 1 && channels !== 2) cfg.fail('channels', channels, '1 (mono) or 2 (stereo)');
  if (channels === 2) {
    cfg.expect('interleave_stereo_codebooks.use', true, 'stereo MusicGen interleaves the two channels codebooks');
    cfg.expect('interleave_stereo_codebooks.per_timestep', false, unsupported);
    if (numCodebooks % 2 !== 0) cfg.fail(`${t}.n_q`, numCodebooks, 'an even number for a stereo model');
  }

  // The runtime implements MusicGen's delay pattern: codebook k (per channel) is delayed by k steps.
  const pattern = cfg.get('codebooks_pattern.modeling');
  if (pattern !== 'delay') cfg.fail('codebooks_pattern.modeling', pattern, '"delay"');
  const delays = cfg.intList('codebooks_pattern.delay.delays');
  const expectedDelays = Array.from({ length: numCodebooks }, (_, k) => Math.floor(k / channels));
  if (delays.length !== numCodebooks || delays.some((d, k) => d !== expectedDelays[k]))
    cfg.fail('codebooks_pattern.delay.delays', delays, `[${expectedDelays.join(', ')}] (MusicGen's delay pattern)`);
  cfg.expect('codebooks_pattern.delay.flatten_first', 0, unsupported);
  cfg.expect('codebooks_pattern.delay.empty_initial', 0, unsupported);

  // Fusers: the text model cross-attends to the description; the melody model prepends chroma then text.
  const cross = cfg.strList('fuser.cross');
  const prepend = cfg.strList('fuser.prepend');
  for (const other of ['sum', 'input_interpolate']) {
    const list = cfg.strList(`fuser.${other}`);
    if (list.length) cfg.fail(`fuser.${other}`, list, '[] (MusicGen fuses conditions by cross-attention or prepend)');
  }
  cfg.expect('fuser.cross_attention_pos_emb', false, unsupported);
  let variant: 'text' | 'melody';
  if (SAME(cross, ['description']) && prepend.length === 0) variant = 'text';
  else if (cross.length === 0 && SAME(prepend, ['self_wav', 'description'])) variant = 'melody';
  else
    cfg.fail(
      'fuser',
      { cross, prepend },
      'cross: [description] (text MusicGen) or prepend: [self_wav, description] (MusicGen-Melody)',
    );
  const conditioners = cfg.get('conditioners');
  const names = conditioners && typeof conditioners === 'object' ? Object.keys(conditioners).sort() : [];
  const expectedNames = variant === 'text' ? ['description'] : ['description', 'self_wav'];
  if (!SAME(names, expectedNames)) cfg.fail('conditioners', names, `exactly [${expectedNames.join(', ')}]`);
  const textModel = cfg.get('conditioners.description.model');
  if (textModel !== 't5') cfg.fail('conditioners.description.model', textModel, '"t5"');

  let melody: AudiocraftLmConfig['melody'];
  if (variant === 'melody') {
    const wavModel = cfg.get('conditioners.self_wav.model');
    if (wavModel !== 'chroma_stem') cfg.fail('conditioners.self_wav.model', wavModel, '"chroma_stem"');
    const c = 'conditioners.self_wav.chroma_stem';
    cfg.expect(`${c}.argmax`, true, 'MusicGen-Melody keeps the strongest chroma bin per frame');
    melody = { numChroma: cfg.int(`${c}.n_chroma`), nFft: 2 ** cfg.int(`${c}.radix2_exp`) };
    if (cfg.has(`${c}.sample_rate`) && cfg.int(`${c}.sample_rate`) !== cfg.int('sample_rate'))
      cfg.fail(`${c}.sample_rate`, cfg.get(`${c}.sample_rate`), `sample_rate (${cfg.int('sample_rate')})`);
  }

  return {
    variant,
    dim,
    numHeads,
    numLayers: cfg.int(`${t}.num_layers`),
    ffnDim: Math.trunc(cfg.num(`${t}.hidden_scale`) * dim),
    numCodebooks,
    codebookSize: cfg.int(`${t}.card`),
    channels,
    sampleRate: cfg.int('sample_rate'),
    guidanceScale: cfg.has('classifier_free_guidance.inference_coef')
      ? cfg.num('classifier_free_guidance.inference_coef')
      : undefined,
    segmentDuration: cfg.has('dataset.segment_duration') ? cfg.num('dataset.segment_duration') : undefined,
    t5Name: cfg.optionalStr('conditioners.description.t5.name'),
    compressionCheckpoint: cfg.optionalStr('compression_model_checkpoint'),
    melody,
  };
}

/** Reads a full EnCodec export's xp.cfg (solver compression, encodec + seanet + rvq). */
export function readCodecConfig(cfg: XpConfig): AudiocraftCodecConfig {
  const solver = cfg.get('solver');
  if (solver !== undefined && solver !== 'compression')
    cfg.fail('solver', solver, '"compression" (an EnCodec checkpoint)');
  const model = cfg.get('compression_model');
  if (model !== 'encodec') cfg.fail('compression_model', model, '"encodec"');
  cfg.expect('encodec.autoencoder', 'seanet', 'the only autoencoder EnCodec uses');
  cfg.expect('encodec.quantizer', 'rvq', 'the only quantizer EnCodec uses');
  cfg.expect('encodec.renormalize', false, 'MusicGen codecs do not renormalise');
  cfg.expect('seanet.norm', 'weight_norm', 'the converter folds weight norm only');
  cfg.expect('seanet.activation', 'ELU', 'the runtime implements ELU');
  cfg.expect('seanet.true_skip', true, 'conv shortcuts are not supported');
  cfg.expect('seanet.disable_norm_outer_blocks', 0, 'every conv is weight-normed in MusicGen codecs');
  return {
    sampleRate: cfg.int('encodec.sample_rate'),
    channels: cfg.int('encodec.channels'),
    dimension: cfg.int('seanet.dimension'),
    nFilters: cfg.int('seanet.n_filters'),
    nResidualLayers: cfg.int('seanet.n_residual_layers', 0),
    ratios: cfg.intList('seanet.ratios'),
    kernelSize: cfg.int('seanet.kernel_size'),
    residualKernelSize: cfg.int('seanet.residual_kernel_size'),
    lastKernelSize: cfg.int('seanet.last_kernel_size'),
    dilationBase: cfg.int('seanet.dilation_base'),
    compress: cfg.int('seanet.compress'),
    lstm: cfg.int('seanet.lstm', 0),
    causal: cfg.get('seanet.causal') === true,
    padMode: cfg.str('seanet.pad_mode'),
    nQ: cfg.int('rvq.n_q'),
    bins: cfg.int('rvq.bins'),
  };
}
