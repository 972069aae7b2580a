// tokenizer.ggml.* keys from the checkpoint's SentencePiece model and tokenizer_config.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import type { MetadataValue } from './gguf-writer';
import { readSentencePieceModel } from './sentencepiece';

/** Where spiece.model lives: `explicit` when given, else the checkpoint folder, else its parent (bin/, fp16/ variants). */
export function findTokenizerDir(checkpointDir: string, explicit?: string): string {
  if (explicit !== undefined) {
    if (!fs.existsSync(path.join(explicit, 'spiece.model'))) {
      throw new ConvertError('no spiece.model in the tokenizer folder', explicit);
    }
    return explicit;
  }
  for (const dir of [checkpointDir, path.dirname(path.resolve(checkpointDir))]) {
    if (fs.existsSync(path.join(dir, 'spiece.model'))) return dir;
  }
  throw new ConvertError(
    'no spiece.model in the checkpoint folder or its parent; pass the folder holding it (--tokenizer-dir)',
    checkpointDir,
  );
}

/** Number of `<extra_id_N>` tokens the HF T5 tokenizer appends (tokenizer_config.json `extra_ids`, default 100). */
function readExtraIds(dir: string): number {
  const file = path.join(dir, 'tokenizer_config.json');
  if (!fs.existsSync(file)) return 100;
  let config: { extra_ids?: unknown };
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as { extra_ids?: unknown };
  } catch (error) {
    throw new ConvertError(`is not valid JSON (${(error as Error).message})`, file);
  }
  const extra = config.extra_ids ?? 100;
  if (typeof extra !== 'number' || !Number.isSafeInteger(extra) || extra < 0) {
    throw new ConvertError(`extra_ids is ${JSON.stringify(extra)}, expected a non-negative integer`, file);
  }
  return extra;
}

/** The tokenizer keys; `embeddingRows` (T5 vocab_size) must cover every id the tokenizer can produce. */
export function tokenizerMetadata(dir: string, embeddingRows: number): Array<[string, MetadataValue]> {
  const file = path.join(dir, 'spiece.model');
  const model = readSentencePieceModel(file);
  const extraIds = readExtraIds(dir);
  const ids = model.pieces.length + extraIds;
  if (ids > embeddingRows) {
    throw new ConvertError(
      `${model.pieces.length} pieces + ${extraIds} extra ids exceed the T5 embedding rows (config.json text_encoder.vocab_size=${embeddingRows})`,
      file,
    );
  }
  const id = (label: string, value: number): MetadataValue => {
    if (!Number.isInteger(value) || value < 0 || value >= model.pieces.length) {
      throw new ConvertError(`${label} id ${value} is not a piece id`, file);
    }
    return { type: 'u32', value };
  };
  return [
    ['tokenizer.ggml.model', { type: 'string', value: 't5' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: model.pieces }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: model.scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: model.types }],
    ['tokenizer.ggml.precompiled_charsmap', { type: 'array', itemType: 'u8', value: model.precompiledCharsmap }],
    ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: model.addDummyPrefix }],
    ['tokenizer.ggml.remove_extra_whitespaces', { type: 'bool', value: model.removeExtraWhitespaces }],
    ['tokenizer.ggml.escape_whitespaces', { type: 'bool', value: model.escapeWhitespaces }],
    ['tokenizer.ggml.eos_token_id', id('eos', model.eosId)],
    ['tokenizer.ggml.unknown_token_id', id('unk', model.unkId)],
    ['tokenizer.ggml.padding_token_id', id('pad', model.padId)],
    ['tokenizer.ggml.extra_ids', { type: 'u32', value: extraIds }],
  ];
}
