// Which files of a hub repo conversion needs: the Hugging Face layout (configs, weights, tokenizer) when it is
// complete, else audiocraft's export (state_dict.bin [+ compression_state_dict.bin]), else a PEFT LoRA adapter
// (adapter_config.json + adapter_model.safetensors or .bin) — never README, tokenizer.json,
// the other weight format, or anything else the repo holds. Also: is a cached snapshot complete?
import * as fs from 'node:fs';
import * as path from 'node:path';

export const HF_CONFIGS = ['config.json', 'generation_config.json', 'preprocessor_config.json'];
export const TOKENIZER_FILES = ['spiece.model', 'tokenizer_config.json'];
export const AUDIOCRAFT_FILES = ['state_dict.bin', 'compression_state_dict.bin'];
export const WEIGHT_INDEX = 'model.safetensors.index.json';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = ['adapter_model.safetensors', 'adapter_model.bin'];

export type RepoLayout = 'hf' | 'audiocraft' | 'lora';

/** The layout a repo's file list offers, or undefined when it is neither (the caller says what was found). */
export function repoLayout(files: ReadonlySet<string>): RepoLayout | undefined {
  const weights = files.has('model.safetensors') || files.has(WEIGHT_INDEX) || files.has('pytorch_model.bin');
  if (files.has('config.json') && weights) return 'hf';
  if (files.has('state_dict.bin')) return 'audiocraft';
  if (files.has(ADAPTER_CONFIG) && ADAPTER_WEIGHTS.some((f) => files.has(f))) return 'lora';
  return undefined;
}

/** Files to fetch besides shards: configs and tokenizer that exist, plus one weight format (safetensors first). */
export function hfFiles(files: ReadonlySet<string>): string[] {
  const weights = ['model.safetensors', WEIGHT_INDEX, 'pytorch_model.bin'].find((f) => files.has(f))!;
  return [...HF_CONFIGS, ...TOKENIZER_FILES].filter((f) => files.has(f)).concat(weights);
}

export function audiocraftFiles(files: ReadonlySet<string>): string[] {
  return [...AUDIOCRAFT_FILES, ...TOKENIZER_FILES].filter((f) => files.has(f));
}

/** An adapter: its config and one weight format (safetensors first); the base's configs beside it are not needed. */
export function loraFiles(files: ReadonlySet<string>): string[] {
  return [ADAPTER_CONFIG, ADAPTER_WEIGHTS.find((f) => files.has(f))!];
}

/** The shard files a model.safetensors.index.json names (its weight_map values), checked to be plain file names. */
export function shardsOf(indexText: string): string[] | string {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(indexText) as { weight_map?: unknown };
  } catch (error) {
    return `is not valid JSON (${(error as Error).message})`;
  }
  const map = index.weight_map;
  if (!map || typeof map !== 'object') return 'has no weight_map object';
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  const bad = shards.find((s) => typeof s !== 'string' || s === '' || s.includes('..') || path.isAbsolute(s));
  if (bad !== undefined) return `weight_map names an unusable shard file ${JSON.stringify(bad)}`;
  return (shards as string[]).sort();
}

/** What a cached snapshot folder lacks to be converted (empty when complete), for offline use. */
export function missingFromSnapshot(dir: string): string[] {
  const has = (f: string) => {
    try {
      return fs.statSync(path.join(dir, f)).isFile();
    } catch {
      return false;
    }
  };
  if (!has('config.json') && has('state_dict.bin')) return [];
  if (has(ADAPTER_CONFIG) && !has('model.safetensors') && !has(WEIGHT_INDEX) && !has('pytorch_model.bin'))
    return ADAPTER_WEIGHTS.some(has) ? [] : [ADAPTER_WEIGHTS.join(' or ')];
  // Weights are fetched last, so a snapshot with its weights also has the tokenizer files the repo offered.
  const missing = ['config.json'].filter((f) => !has(f));
  if (has('model.safetensors') || has('pytorch_model.bin')) return missing;
  if (!has(WEIGHT_INDEX)) return [...missing, 'model.safetensors (or an index + shards, or pytorch_model.bin)'];
  const shards = shardsOf(fs.readFileSync(path.join(dir, WEIGHT_INDEX), 'utf8'));
  return typeof shards === 'string'
    ? [...missing, `${WEIGHT_INDEX} (${shards})`]
    : [...missing, ...shards.filter((s) => !has(s))];
}
