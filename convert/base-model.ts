// The `--base` of a conversion that holds only part of a model (an audiocraft export: LM weights without T5,
// tokenizer and, in the pointer form, EnCodec): an HF MusicGen folder or a converted GGUF file, opened through ONE
// function (openBase) so a Hub repo id can be resolved in one place.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import { openWeights } from './convert';
import { configFromGguf, ggufFileType } from './gguf-base';
import { GgufReader } from './gguf-reader';
import { resolveCheckpointDir, type HubOptions } from './hub/resolve';
import type { MetadataValue } from './gguf-writer';
import { readMusicgenConfig, type MusicgenConfig } from './hf-config';
import type { OutputType } from './quant-policy';
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
    const fileType = ggufFileType(reader);
    return { kind: 'gguf', path: where, config, tokenizer, reader, fileType };
  } catch (error) {
    reader.close();
    throw error;
  }
}

/** A short label for messages: the folder or file name. */
export function baseLabel(base: BaseModel): string {
  return path.basename(path.resolve(base.path));
}
