// Reads a Hugging Face MusicGen folder's config.json (+ generation_config.json, preprocessor_config.json) into the
// hyper-parameters the converter needs, rejecting anything that is not a MusicGen / MusicGen-Melody checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';

export interface T5Config {
  vocabSize: number;
  dModel: number;
  dFf: number;
  numLayers: number;
  numHeads: number;
  dKv: number;
  relativeBuckets: number;
  relativeMaxDistance: number;
  layerNormEpsilon: number;
  feedForwardAct: 'relu' | 'gated-gelu';
}

export interface DecoderConfig {
  numCodebooks: number;
  codebookSize: number;
  hiddenSize: number;
  ffnDim: number;
  numLayers: number;
  numHeads: number;
  maxPositions: number;
  audioChannels: 1 | 2;
}

export interface CodecConfig {
  sampleRate: number;
  audioChannels: number;
  hiddenSize: number;
  numFilters: number;
  upsamplingRatios: number[];
  kernelSize: number;
  lastKernelSize: number;
  residualKernelSize: number;
  numResidualLayers: number;
  dilationGrowthRate: number;
  compress: number;
  numLstmLayers: number;
  codebookSize: number;
  quantizerCount: number;
  frameRate: number;
  causal: boolean;
  padMode: string;
}

export interface MelodyConfig {
  numChroma: number;
  chromaLength: number;
  nFft: number;
  hopLength: number;
  chunkLength: number;
}

export interface GenerationConfig {
  maxLength: number;
  guidanceScale: number;
  padTokenId: number;
}

export interface MusicgenConfig {
  variant: 'text' | 'melody';
  t5: T5Config;
  decoder: DecoderConfig;
  codec: CodecConfig;
  melody: MelodyConfig | undefined;
  generation: GenerationConfig;
}

type Json = Record<string, unknown>;

/** Field reader that names the file and the dotted key in every error. */
class Fields {
  constructor(
    private readonly file: string,
    private readonly obj: Json,
    private readonly prefix: string,
  ) {}

  private fail(key: string, found: unknown, expected: string): never {
    const what = found === undefined ? 'is missing' : `is ${JSON.stringify(found)}`;
    throw new ConvertError(`${this.prefix}${key} ${what}, expected ${expected}`, this.file);
  }

  int(key: string, fallback?: number, min = 1): number {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(key, v, `an integer >= ${min}`);
    return v;
  }

  num(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, v, 'a number');
    return v;
  }

  str(key: string, fallback?: string): string {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'string') this.fail(key, v, 'a string');
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(key, v, 'true or false');
    return v;
  }

  intList(key: string): number[] {
    const v = this.obj[key];
    if (
      !Array.isArray(v) ||
      v.length === 0 ||
      !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1)
    ) {
      this.fail(key, v, 'a non-empty list of positive integers');
    }
    return v as number[];
  }

  numList(key: string): number[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && x > 0)) {
      this.fail(key, v, 'a non-empty list of positive numbers');
    }
    return v as number[];
  }

  require(condition: boolean, key: string, expected: string): void {
    if (!condition) this.fail(key, this.obj[key], expected);
  }
}

function readJson(file: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConvertError(`cannot read (${reason})`, file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConvertError('is not a JSON object', file);
  }
  return parsed as Json;
}

function readOptionalJson(file: string): Json {
  return fs.existsSync(file) ? readJson(file) : {};
}

function subConfig(file: string, top: Json, key: string, modelTypes: string[]): Json {
  const sub = top[key];
  if (typeof sub !== 'object' || sub === null || Array.isArray(sub)) {
    throw new ConvertError(
      `has no '${key}' sub-config (top-level keys found: ${Object.keys(top).join(', ') || 'none'}); not a MusicGen checkpoint`,
      file,
    );
  }
  const type = (sub as Json).model_type;
  if (typeof type !== 'string' || !modelTypes.includes(type)) {
    throw new ConvertError(`${key}.model_type is ${JSON.stringify(type)}, expected ${modelTypes.join(' or ')}`, file);
  }
  return sub as Json;
}

function readT5(file: string, json: Json): T5Config {
  const f = new Fields(file, json, 'text_encoder.');
  const act = f.str('feed_forward_proj', 'relu');
  f.require(act === 'relu' || act === 'gated-gelu', 'feed_forward_proj', "'relu' or 'gated-gelu'");
  return {
    vocabSize: f.int('vocab_size'),
    dModel: f.int('d_model'),
    dFf: f.int('d_ff'),
    numLayers: f.int('num_layers'),
    numHeads: f.int('num_heads'),
    dKv: f.int('d_kv'),
    relativeBuckets: f.int('relative_attention_num_buckets'),
    relativeMaxDistance: f.int('relative_attention_max_distance'),
    layerNormEpsilon: f.num('layer_norm_epsilon'),
    feedForwardAct: act as T5Config['feedForwardAct'],
  };
}

function readDecoder(file: string, json: Json): DecoderConfig {
  const f = new Fields(file, json, 'decoder.');
  const audioChannels = f.int('audio_channels', 1);
  f.require(audioChannels === 1 || audioChannels === 2, 'audio_channels', '1 (mono) or 2 (stereo)');
  const numCodebooks = f.int('num_codebooks');
  f.require(numCodebooks % audioChannels === 0, 'num_codebooks', `a multiple of audio_channels (${audioChannels})`);
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  f.require(hiddenSize % numHeads === 0, 'num_attention_heads', `a divisor of hidden_size (${hiddenSize})`);
  return {
    numCodebooks,
    codebookSize: f.int('vocab_size'),
    hiddenSize,
    ffnDim: f.int('ffn_dim'),
    numLayers: f.int('num_hidden_layers'),
    numHeads,
    maxPositions: f.int('max_position_embeddings'),
    audioChannels: audioChannels as 1 | 2,
  };
}

function readCodec(file: string, json: Json): CodecConfig {
  const f = new Fields(file, json, 'audio_encoder.');
  f.require((json.norm_type ?? 'weight_norm') === 'weight_norm', 'norm_type', "'weight_norm'");
  f.require(!json.use_conv_shortcut, 'use_conv_shortcut', 'false (conv shortcuts are not supported)');
  const hiddenSize = f.int('hidden_size');
  const codebookDim = json.codebook_dim ?? hiddenSize;
  f.require(codebookDim === hiddenSize, 'codebook_dim', `null or equal to hidden_size (${hiddenSize})`);
  const sampleRate = f.int('sampling_rate');
  const ratios = f.intList('upsampling_ratios');
  const bandwidths = f.numList('target_bandwidths');
  // EncodecConfig.frame_rate and .num_quantizers, as transformers computes them.
  const frameRate = Math.ceil(sampleRate / ratios.reduce((a, b) => a * b, 1));
  const quantizerCount = Math.floor((1000 * bandwidths[bandwidths.length - 1]!) / (frameRate * 10));
  f.require(quantizerCount >= 1, 'target_bandwidths', 'a bandwidth giving at least one quantizer');
  return {
    sampleRate,
    audioChannels: f.int('audio_channels', 1),
    hiddenSize,
    numFilters: f.int('num_filters'),
    upsamplingRatios: ratios,
    kernelSize: f.int('kernel_size'),
    lastKernelSize: f.int('last_kernel_size'),
    residualKernelSize: f.int('residual_kernel_size'),
    numResidualLayers: f.int('num_residual_layers', undefined, 0),
    dilationGrowthRate: f.int('dilation_growth_rate'),
    compress: f.int('compress'),
    numLstmLayers: f.int('num_lstm_layers'),
    codebookSize: f.int('codebook_size'),
    quantizerCount,
    frameRate,
    causal: f.bool('use_causal_conv', false),
    padMode: f.str('pad_mode', 'reflect'),
  };
}

/** Reads `dir`/config.json (required) and the optional generation / preprocessor configs next to it. */
export function readMusicgenConfig(dir: string): MusicgenConfig {
  const file = path.join(dir, 'config.json');
  const top = readJson(file);
  const modelType = top.model_type;
  if (modelType !== 'musicgen' && modelType !== 'musicgen_melody') {
    throw new ConvertError(
      `model_type is ${JSON.stringify(modelType)}, expected "musicgen" or "musicgen_melody": not a MusicGen checkpoint`,
      file,
    );
  }
  const variant = modelType === 'musicgen' ? 'text' : 'melody';
  const t5Json = subConfig(file, top, 'text_encoder', ['t5']);
  const decoderJson = subConfig(file, top, 'decoder', [
    variant === 'text' ? 'musicgen_decoder' : 'musicgen_melody_decoder',
  ]);
  const codecJson = subConfig(file, top, 'audio_encoder', ['encodec']);
  const t5 = readT5(file, t5Json);
  const decoder = readDecoder(file, decoderJson);
  const codec = readCodec(file, codecJson);

  let melody: MelodyConfig | undefined;
  if (variant === 'melody') {
    // Defaults are those of MusicgenMelodyConfig / MusicgenMelodyFeatureExtractor when a field is absent.
    const f = new Fields(file, top, '');
    const pre = path.join(dir, 'preprocessor_config.json');
    const p = new Fields(pre, readOptionalJson(pre), '');
    melody = {
      numChroma: f.int('num_chroma', 12),
      chromaLength: f.int('chroma_length', 235),
      nFft: p.int('n_fft', 16384),
      hopLength: p.int('hop_length', 4096),
      chunkLength: p.int('chunk_length', 30),
    };
  }

  const genFile = path.join(dir, 'generation_config.json');
  const g = new Fields(genFile, readOptionalJson(genFile), '');
  const generation = {
    maxLength: g.int('max_length', 1500),
    guidanceScale: g.num('guidance_scale', 3.0),
    padTokenId: g.int('pad_token_id', decoder.codebookSize, 0),
  };
  return { variant, t5, decoder, codec, melody, generation };
}
