// A converted GGUF as the base of a conversion (LoRA merges onto a .gguf, re-encoding to another --type): the
// hyper-parameters are read back from its musicgen.* keys so the same tensor plan (names, shapes, roles) as a
// checkpoint conversion applies, and every tensor of the file is checked against that plan before anything is written.
import { ConvertError } from '../lib/errors';
import type { MetadataValue } from './gguf-writer';
import type { GgufReader } from './gguf-reader';
import type { MusicgenConfig } from './hf-config';
import type { PreviousLora } from './lora';
import { FILE_TYPE, type OutputType } from './quant-policy';
import { planTensors, type TensorPlan } from './tensor-map';

class Keys {
  constructor(private readonly reader: GgufReader) {}

  private get(key: string): MetadataValue {
    const v = this.reader.metadata.get(key);
    if (!v) throw new ConvertError(`metadata key '${key}' is missing (not a musicgen GGUF?)`, this.reader.file);
    return v;
  }
  private fail(key: string, v: MetadataValue, expected: string): never {
    throw new ConvertError(`metadata '${key}' is a ${v.type}, expected ${expected}`, this.reader.file);
  }
  u32(key: string): number {
    const v = this.get(key);
    return v.type === 'u32' ? v.value : this.fail(key, v, 'a u32');
  }
  f32(key: string): number {
    const v = this.get(key);
    return v.type === 'f32' ? v.value : this.fail(key, v, 'an f32');
  }
  str(key: string): string {
    const v = this.get(key);
    return v.type === 'string' ? v.value : this.fail(key, v, 'a string');
  }
  bool(key: string): boolean {
    const v = this.get(key);
    return v.type === 'bool' ? v.value : this.fail(key, v, 'a bool');
  }
  u32List(key: string): number[] {
    const v = this.get(key);
    return v.type === 'array' && v.itemType === 'u32' ? Array.from(v.value) : this.fail(key, v, 'a u32 array');
  }
  has(key: string): boolean {
    return this.reader.metadata.has(key);
  }
}

/** The MusicgenConfig a GGUF was converted from, as far as the tensor plan needs it. */
export function configFromGguf(reader: GgufReader): MusicgenConfig {
  const k = new Keys(reader);
  if (k.str('general.architecture') !== 'musicgen')
    throw new ConvertError(
      `general.architecture is '${k.str('general.architecture')}', expected 'musicgen'`,
      reader.file,
    );
  const variant = k.str('musicgen.variant');
  if (variant !== 'text' && variant !== 'melody')
    throw new ConvertError(`musicgen.variant is '${variant}', expected 'text' or 'melody'`, reader.file);
  const act = k.str('musicgen.t5.feed_forward_act');
  if (act !== 'relu' && act !== 'gated-gelu')
    throw new ConvertError(`musicgen.t5.feed_forward_act is '${act}', expected 'relu' or 'gated-gelu'`, reader.file);
  const channels = k.u32('musicgen.audio_channels');
  if (channels !== 1 && channels !== 2)
    throw new ConvertError(`musicgen.audio_channels is ${channels}, expected 1 or 2`, reader.file);
  // The codec's waveform channels are not a key: the first encoder convolution's input width holds them.
  const firstConv = reader.tensors.get('codec.enc.0.conv.weight');
  if (!firstConv || firstConv.dims.length !== 3)
    throw new ConvertError(`tensor 'codec.enc.0.conv.weight' is missing or not 3-D`, reader.file);
  return {
    variant,
    t5: {
      vocabSize: k.u32('musicgen.t5.vocab_size'),
      dModel: k.u32('musicgen.t5.embedding_length'),
      dFf: k.u32('musicgen.t5.feed_forward_length'),
      numLayers: k.u32('musicgen.t5.block_count'),
      numHeads: k.u32('musicgen.t5.head_count'),
      dKv: k.u32('musicgen.t5.key_length'),
      relativeBuckets: k.u32('musicgen.t5.relative_buckets'),
      relativeMaxDistance: k.u32('musicgen.t5.relative_max_distance'),
      layerNormEpsilon: k.f32('musicgen.t5.layer_norm_epsilon'),
      feedForwardAct: act,
    },
    decoder: {
      numCodebooks: k.u32('musicgen.lm.codebook_count'),
      codebookSize: k.u32('musicgen.lm.codebook_size'),
      hiddenSize: k.u32('musicgen.lm.embedding_length'),
      ffnDim: k.u32('musicgen.lm.feed_forward_length'),
      numLayers: k.u32('musicgen.lm.block_count'),
      numHeads: k.u32('musicgen.lm.head_count'),
      maxPositions: k.u32('musicgen.lm.max_position'),
      audioChannels: channels,
    },
    codec: {
      sampleRate: k.u32('musicgen.codec.sample_rate'),
      audioChannels: firstConv.dims[1]!,
      hiddenSize: k.u32('musicgen.codec.hidden_size'),
      numFilters: k.u32('musicgen.codec.num_filters'),
      upsamplingRatios: k.u32List('musicgen.codec.upsampling_ratios'),
      kernelSize: k.u32('musicgen.codec.kernel_size'),
      lastKernelSize: k.u32('musicgen.codec.last_kernel_size'),
      residualKernelSize: k.u32('musicgen.codec.residual_kernel_size'),
      numResidualLayers: k.u32('musicgen.codec.num_residual_layers'),
      dilationGrowthRate: k.u32('musicgen.codec.dilation_growth_rate'),
      compress: k.u32('musicgen.codec.compress'),
      numLstmLayers: k.u32('musicgen.codec.num_lstm_layers'),
      codebookSize: k.u32('musicgen.codec.codebook_size'),
      quantizerCount: k.u32('musicgen.codec.quantizer_count'),
      frameRate: k.u32('musicgen.frame_rate'),
      causal: k.bool('musicgen.codec.causal'),
      padMode: k.str('musicgen.codec.pad_mode'),
    },
    melody:
      variant === 'melody'
        ? {
            numChroma: k.u32('musicgen.melody.num_chroma'),
            chromaLength: k.u32('musicgen.melody.chroma_length'),
            nFft: k.u32('musicgen.melody.n_fft'),
            hopLength: k.u32('musicgen.melody.hop_length'),
            chunkLength: k.u32('musicgen.melody.chunk_length'),
          }
        : undefined,
    generation: {
      maxLength: k.u32('musicgen.generation.max_length'),
      guidanceScale: k.f32('musicgen.generation.guidance_scale'),
      padTokenId: k.u32('musicgen.generation.pad_token_id'),
    },
  };
}

/** The checkpoint plan of the GGUF's model, each entry matched to a tensor of the file with the same shape. */
export function planGgufBase(reader: GgufReader, config: MusicgenConfig): TensorPlan[] {
  // Optional tensors exist in the plan exactly when the file has them; the others' HF spellings do not matter.
  const optional: Record<string, string> = {
    'enc_to_dec_proj.weight': 'cond.text_proj.weight',
    'audio_enc_to_dec_proj.weight': 'cond.chroma_proj.weight',
  };
  const plans = planTensors(config, (hf) => (optional[hf] ? reader.tensors.has(optional[hf]) : true));
  const planned = new Set<string>();
  for (const plan of plans) {
    const t = reader.tensors.get(plan.name);
    const dims = [...plan.shape].reverse();
    if (!t) throw new ConvertError(`tensor '${plan.name}' is missing (its musicgen.* keys imply it)`, reader.file);
    if (t.dims.length !== dims.length || t.dims.some((n, i) => n !== dims[i]))
      throw new ConvertError(
        `tensor '${plan.name}' has dims [${t.dims.join(', ')}], expected [${dims.join(', ')}] (from its musicgen.* keys)`,
        reader.file,
      );
    planned.add(plan.name);
  }
  for (const name of reader.tensors.keys()) {
    if (!planned.has(name))
      throw new ConvertError(
        `unexpected tensor '${name}': not part of the model its musicgen.* keys describe`,
        reader.file,
      );
  }
  return plans;
}

/** The --type a GGUF was written with (general.file_type). */
export function ggufFileType(reader: GgufReader): OutputType {
  const v = reader.metadata.get('general.file_type');
  const type = (Object.keys(FILE_TYPE) as OutputType[]).find((t) => v?.type === 'u32' && FILE_TYPE[t] === v.value);
  if (!type)
    throw new ConvertError(
      `general.file_type ${JSON.stringify(v?.value)} is not one the converter writes`,
      reader.file,
    );
  return type;
}

/** The base's metadata for the output: file type replaced, earlier musicgen.lora.* lists split off to be extended. */
export function baseMetadata(
  reader: GgufReader,
  type: OutputType,
): { entries: Array<[string, MetadataValue]>; previous: PreviousLora } {
  const entries: Array<[string, MetadataValue]> = [];
  const list = (key: string): Array<string | number> => {
    const v = reader.metadata.get(key);
    return v?.type === 'array' ? (Array.from(v.value as ArrayLike<string | number>) as Array<string | number>) : [];
  };
  for (const [key, value] of reader.metadata) {
    if (key.startsWith('musicgen.lora.') || key === 'general.alignment') continue;
    entries.push(key === 'general.file_type' ? [key, { type: 'u32', value: FILE_TYPE[type] }] : [key, value]);
  }
  const previous: PreviousLora = {
    names: list('musicgen.lora.adapters') as string[],
    scales: list('musicgen.lora.scales') as number[],
    ranks: list('musicgen.lora.ranks') as number[],
    factors: list('musicgen.lora.factors') as number[],
    modules: list('musicgen.lora.modules') as number[],
  };
  return { entries, previous };
}
