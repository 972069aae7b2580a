// The `--base` of a conversion that holds only part of a model (an audiocraft export: LM weights without T5,
// tokenizer and, in the pointer form, EnCodec): an HF MusicGen folder or a converted GGUF file, opened through ONE
// function (openBase) so a Hub repo id can be resolved in one place.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import { openWeights } from './convert';
import { GgufReader } from './gguf-reader';
import { resolveCheckpointDir, type HubOptions } from './hub/resolve';
import type { MetadataValue } from './gguf-writer';
import { readMusicgenConfig, type MusicgenConfig } from './hf-config';
import { FILE_TYPE, type OutputType } from './quant-policy';
import type { TensorSource } from './tensor-source';
import { findTokenizerDir, tokenizerMetadata } from './tokenizer-metadata';

export type BaseModel =
  | {
      kind: 'hf';
      /** The HF folder. */
      path: string;
      config: MusicgenConfig;
      tokenizer: Array<[string, MetadataValue]>;
      /** Its weights in HF names; the caller closes it. */
      source: TensorSource;
    }
  | {
      kind: 'gguf';
      path: string;
      config: MusicgenConfig;
      tokenizer: Array<[string, MetadataValue]>;
      reader: GgufReader;
      /** The --type it was converted with (general.file_type). */
      fileType: OutputType;
    };

export interface OpenBaseOptions {
  /** Folder holding spiece.model for an HF base (default: the base folder, else its parent). */
  tokenizerDir?: string;
  /** How to fetch a base named by a Hugging Face repo id (owner/name). */
  hub?: HubOptions;
}

/**
 * Opens `spec`: an HF MusicGen folder (config.json + weights + spiece.model) or a converted `.gguf` file.
 * A Hub repo id (`owner/name`, not an existing path) is resolved to its downloaded snapshot folder first.
 */
export async function openBase(spec: string, options: OpenBaseOptions = {}): Promise<BaseModel> {
  const where = await resolveCheckpointDir(spec, options.hub);
  if (!fs.existsSync(where)) throw new ConvertError('--base: no such file or folder', where);
  if (fs.statSync(where).isDirectory()) {
    const config = readMusicgenConfig(where);
    const tokenizer = tokenizerMetadata(findTokenizerDir(where, options.tokenizerDir), config.t5.vocabSize);
    return { kind: 'hf', path: where, config, tokenizer, source: openWeights(where) };
  }
  const reader = new GgufReader(where);
  try {
    const config = configFromGguf(reader);
    const tokenizer = [...reader.metadata].filter(([key]) => key.startsWith('tokenizer.'));
    if (!tokenizer.some(([key]) => key === 'tokenizer.ggml.tokens'))
      throw new ConvertError('--base GGUF has no tokenizer.ggml.* keys (not a musicgen-convert output)', where);
    const fileTypeId = gguf(reader).u32('general.file_type');
    const fileType = (Object.keys(FILE_TYPE) as OutputType[]).find((t) => FILE_TYPE[t] === fileTypeId);
    if (!fileType) throw new ConvertError(`general.file_type ${fileTypeId} is not one the converter writes`, where);
    return { kind: 'gguf', path: where, config, tokenizer, reader, fileType };
  } catch (error) {
    reader.close();
    throw error;
  }
}

/** Typed metadata reads that name the key and the file. */
function gguf(reader: GgufReader) {
  const get = (key: string): MetadataValue => {
    const v = reader.metadata.get(key);
    if (!v) throw new ConvertError(`--base GGUF has no '${key}' (not a musicgen-convert output?)`, reader.file);
    return v;
  };
  const bad = (key: string, expected: string): never => {
    throw new ConvertError(`--base GGUF '${key}' is not ${expected}`, reader.file);
  };
  return {
    u32(key: string): number {
      const v = get(key);
      return v.type === 'u32' ? v.value : bad(key, 'a u32');
    },
    f32(key: string): number {
      const v = get(key);
      return v.type === 'f32' ? v.value : bad(key, 'an f32');
    },
    str(key: string): string {
      const v = get(key);
      return v.type === 'string' ? v.value : bad(key, 'a string');
    },
    bool(key: string): boolean {
      const v = get(key);
      return v.type === 'bool' ? v.value : bad(key, 'a bool');
    },
    u32s(key: string): number[] {
      const v = get(key);
      return v.type === 'array' && v.itemType === 'u32' ? Array.from(v.value) : bad(key, 'a u32 array');
    },
  };
}

/** The MusicgenConfig a GGUF was written from (metadata.ts in reverse). */
export function configFromGguf(reader: GgufReader): MusicgenConfig {
  const m = gguf(reader);
  const arch = m.str('general.architecture');
  if (arch !== 'musicgen')
    throw new ConvertError(`--base GGUF general.architecture is '${arch}', expected 'musicgen'`, reader.file);
  const variant = m.str('musicgen.variant');
  if (variant !== 'text' && variant !== 'melody')
    throw new ConvertError(`--base GGUF musicgen.variant is '${variant}', expected text or melody`, reader.file);
  const act = m.str('musicgen.t5.feed_forward_act');
  if (act !== 'relu' && act !== 'gated-gelu')
    throw new ConvertError(`--base GGUF musicgen.t5.feed_forward_act is '${act}'`, reader.file);
  const channels = m.u32('musicgen.audio_channels');
  if (channels !== 1 && channels !== 2)
    throw new ConvertError(`--base GGUF musicgen.audio_channels is ${channels}`, reader.file);
  return {
    variant,
    t5: {
      vocabSize: m.u32('musicgen.t5.vocab_size'),
      dModel: m.u32('musicgen.t5.embedding_length'),
      dFf: m.u32('musicgen.t5.feed_forward_length'),
      numLayers: m.u32('musicgen.t5.block_count'),
      numHeads: m.u32('musicgen.t5.head_count'),
      dKv: m.u32('musicgen.t5.key_length'),
      relativeBuckets: m.u32('musicgen.t5.relative_buckets'),
      relativeMaxDistance: m.u32('musicgen.t5.relative_max_distance'),
      layerNormEpsilon: m.f32('musicgen.t5.layer_norm_epsilon'),
      feedForwardAct: act,
    },
    decoder: {
      numCodebooks: m.u32('musicgen.lm.codebook_count'),
      codebookSize: m.u32('musicgen.lm.codebook_size'),
      hiddenSize: m.u32('musicgen.lm.embedding_length'),
      ffnDim: m.u32('musicgen.lm.feed_forward_length'),
      numLayers: m.u32('musicgen.lm.block_count'),
      numHeads: m.u32('musicgen.lm.head_count'),
      maxPositions: m.u32('musicgen.lm.max_position'),
      audioChannels: channels,
    },
    codec: {
      sampleRate: m.u32('musicgen.codec.sample_rate'),
      audioChannels: 1,
      hiddenSize: m.u32('musicgen.codec.hidden_size'),
      numFilters: m.u32('musicgen.codec.num_filters'),
      upsamplingRatios: m.u32s('musicgen.codec.upsampling_ratios'),
      kernelSize: m.u32('musicgen.codec.kernel_size'),
      lastKernelSize: m.u32('musicgen.codec.last_kernel_size'),
      residualKernelSize: m.u32('musicgen.codec.residual_kernel_size'),
      numResidualLayers: m.u32('musicgen.codec.num_residual_layers'),
      dilationGrowthRate: m.u32('musicgen.codec.dilation_growth_rate'),
      compress: m.u32('musicgen.codec.compress'),
      numLstmLayers: m.u32('musicgen.codec.num_lstm_layers'),
      codebookSize: m.u32('musicgen.codec.codebook_size'),
      quantizerCount: m.u32('musicgen.codec.quantizer_count'),
      frameRate: m.u32('musicgen.frame_rate'),
      causal: m.bool('musicgen.codec.causal'),
      padMode: m.str('musicgen.codec.pad_mode'),
    },
    melody:
      variant === 'melody'
        ? {
            numChroma: m.u32('musicgen.melody.num_chroma'),
            chromaLength: m.u32('musicgen.melody.chroma_length'),
            nFft: m.u32('musicgen.melody.n_fft'),
            hopLength: m.u32('musicgen.melody.hop_length'),
            chunkLength: m.u32('musicgen.melody.chunk_length'),
          }
        : undefined,
    generation: {
      maxLength: m.u32('musicgen.generation.max_length'),
      guidanceScale: m.f32('musicgen.generation.guidance_scale'),
      padTokenId: m.u32('musicgen.generation.pad_token_id'),
    },
  };
}

/** A short label for messages: the folder or file name. */
export function baseLabel(base: BaseModel): string {
  return path.basename(path.resolve(base.path));
}
