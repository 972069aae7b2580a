import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkpointTensors } from './checkpoint-layout';
import {
  generationConfig,
  modelConfig,
  preprocessorConfig,
  specialTokensMap,
  tokenizerConfig,
  WeightDtype,
} from './hf-config';
import { ModelSpec } from './presets';
import { PyJson, toPythonJson } from './py-json';
import {
  planShards,
  SafetensorsDtype,
  shardFileName,
  shardIndexJson,
  TensorEntry,
  writeSafetensors,
} from './safetensors-writer';
import { spieceModel } from './spiece-writer';
import { valueSource } from './tensor-values';

export interface RandomCheckpointOptions {
  /** Output folder; created if missing. */
  dir: string;
  spec: ModelSpec;
  dtype: WeightDtype;
  seed: number;
  /** Largest shard in bytes of tensor data (HF's max_shard_size); above it the weights are split. */
  maxShardBytes: number;
  /** nmt_nfkc table for spiece.model (see readPrecompiledCharsmap); omitted: no normalisation table. */
  precompiledCharsmap?: Uint8Array;
}

export interface RandomCheckpointSummary {
  parameters: number;
  /** Every file written, relative to dir. */
  files: string[];
  /** Bytes of all .safetensors files. */
  weightBytes: number;
}

/** Names this tool writes; stale ones from an earlier run would contradict the new weights. */
export function isCheckpointFileName(name: string): boolean {
  return /^model(-\d{5}-of-\d{5})?\.safetensors$/.test(name) || name === 'model.safetensors.index.json';
}

/** Writes a complete Hugging Face MusicGen folder with random weights, streaming the tensors to disk. */
export function writeRandomCheckpoint(options: RandomCheckpointOptions): RandomCheckpointSummary {
  const { dir, spec, dtype, seed } = options;
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const writeJson = (name: string, value: PyJson) => {
    fs.writeFileSync(path.join(dir, name), toPythonJson(value));
    files.push(name);
  };
  writeJson('config.json', modelConfig(spec, dtype));
  writeJson('generation_config.json', generationConfig(spec));
  writeJson('preprocessor_config.json', preprocessorConfig(spec));
  writeJson('tokenizer_config.json', tokenizerConfig(spec));
  writeJson('special_tokens_map.json', specialTokensMap());
  const spiece = spieceModel({
    pieces: spec.sizes['tokenizer.pieces'],
    ...(options.precompiledCharsmap ? { precompiledCharsmap: options.precompiledCharsmap } : {}),
  });
  fs.writeFileSync(path.join(dir, 'spiece.model'), spiece);
  files.push('spiece.model');

  const safetensorsDtype: SafetensorsDtype = dtype === 'f16' ? 'F16' : 'F32';
  const tensors = checkpointTensors(spec);
  const entries: TensorEntry[] = tensors.map((tensor) => ({
    name: tensor.name,
    shape: tensor.shape,
    values: () => valueSource(tensor, seed),
  }));
  const shards = planShards(entries, safetensorsDtype, options.maxShardBytes);
  let weightBytes = 0;
  shards.forEach((shard, index) => {
    const name = shardFileName(index, shards.length);
    weightBytes += writeSafetensors(path.join(dir, name), shard, safetensorsDtype);
    files.push(name);
  });
  if (shards.length > 1) {
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), shardIndexJson(shards, safetensorsDtype));
    files.push('model.safetensors.index.json');
  }
  const parameters = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  return { parameters, files, weightBytes };
}
