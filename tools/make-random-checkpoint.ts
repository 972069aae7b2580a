#!/usr/bin/env node
/**
 * make-random-checkpoint: writes a Hugging Face MusicGen folder (config.json, tokenizer files, spiece.model,
 * model.safetensors or HF-style shards + index) with seeded random weights and the real tensor shapes, for
 * benchmarks and large-scale tests without downloading the real checkpoints. See docs/random-checkpoints.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MusicGenError } from '../lib/errors';
import { WeightDtype } from './hf-config';
import { PRESETS, resolveSpec, SIZE_KEYS } from './presets';
import { isCheckpointFileName, writeRandomCheckpoint } from './random-checkpoint';
import { readPrecompiledCharsmap } from './spiece-writer';

// The repository's reference tokenizer carries sentencepiece's nmt_nfkc table (dist/tools -> repo root).
const DEFAULT_CHARSMAP_SOURCE = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'tokenizer', 'spiece.model');
// transformers 4.43's save_pretrained default max_shard_size.
const DEFAULT_SHARD_SIZE = '5GB';

const USAGE = `Usage: make-random-checkpoint --preset NAME -o DIR [options]

Options:
  --preset NAME          ${Object.keys(PRESETS).join(', ')}
  -o, --output DIR       output folder (must be empty or missing unless --force)
  --dtype f32|f16        weight dtype (default f32)
  --seed N               random seed, 0..4294967295 (default 0)
  --shard-size SIZE      split weights above SIZE bytes of tensor data, e.g. 2GB, 500MB, 1GiB (default ${DEFAULT_SHARD_SIZE})
  --set KEY=VALUE        override a size (repeatable); KEY one of:
                         ${SIZE_KEYS.join(', ')}
  --charsmap-from FILE   spiece.model to copy the nmt_nfkc normalisation table from, or 'none'
                         (default: test/fixtures/tokenizer/spiece.model of this repository)
  --force                write into a non-empty folder (replaces earlier weight files)
  -h, --help             show this help
`;

function usageError(message: string): MusicGenError {
  return new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', message);
}

/** "2GB" -> 2e9, "1GiB" -> 2^30, "123" -> 123 bytes (HF's convert_file_size_to_int units). */
function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?$/i.exec(text.trim());
  if (!match) throw usageError(`--shard-size: expected a size like 2GB, 500MB or 1GiB, got '${text}'`);
  const unit = (match[2] ?? 'B').toUpperCase();
  const power = { B: 0, K: 1, M: 2, G: 3, T: 4 }[unit[0] as 'B' | 'K' | 'M' | 'G' | 'T'];
  const base = unit.includes('I') ? 1024 : 1000;
  const bytes = Math.floor(Number(match[1]) * base ** power);
  if (bytes < 1) throw usageError(`--shard-size: must be at least 1 byte, got '${text}'`);
  return bytes;
}

function parseSeed(text: string): number {
  const seed = Number(text);
  if (!/^\d+$/.test(text) || seed > 0xffffffff) {
    throw usageError(`--seed: expected an integer from 0 to 4294967295, got '${text}'`);
  }
  return seed;
}

function parseDtype(text: string): WeightDtype {
  if (text !== 'f32' && text !== 'f16') throw usageError(`--dtype: expected f32 or f16, got '${text}'`);
  return text;
}

function loadCharsmap(source: string | undefined): Uint8Array | undefined {
  if (source === 'none') return undefined;
  const file = source ?? DEFAULT_CHARSMAP_SOURCE;
  if (!fs.existsSync(file)) {
    if (source === undefined) return undefined;
    throw usageError(`--charsmap-from: ${file} does not exist`);
  }
  const charsmap = readPrecompiledCharsmap(fs.readFileSync(file));
  if (!charsmap) throw usageError(`--charsmap-from: ${file} has no precompiled_charsmap`);
  return charsmap;
}

function prepareOutput(dir: string, force: boolean): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw usageError(`--output: ${dir} exists and is not a folder`);
  const existing = fs.readdirSync(dir);
  if (existing.length === 0) return;
  if (!force) throw usageError(`--output: ${dir} is not empty (use --force to write into it)`);
  for (const name of existing.filter(isCheckpointFileName)) fs.rmSync(path.join(dir, name));
}

function main(argv: string[]): void {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        preset: { type: 'string' },
        output: { type: 'string', short: 'o' },
        dtype: { type: 'string', default: 'f32' },
        seed: { type: 'string', default: '0' },
        'shard-size': { type: 'string', default: DEFAULT_SHARD_SIZE },
        set: { type: 'string', multiple: true, default: [] },
        'charsmap-from': { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!args.preset) throw usageError('--preset: required');
  if (!args.output) throw usageError('--output (-o): required');
  const spec = resolveSpec(args.preset, args.set);
  const dtype = parseDtype(args.dtype);
  const seed = parseSeed(args.seed);
  const maxShardBytes = parseSize(args['shard-size']);
  const precompiledCharsmap = loadCharsmap(args['charsmap-from']);
  prepareOutput(args.output, args.force);

  const started = process.hrtime.bigint();
  const summary = writeRandomCheckpoint({
    dir: args.output,
    spec,
    dtype,
    seed,
    maxShardBytes,
    ...(precompiledCharsmap ? { precompiledCharsmap } : {}),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const weightFiles = summary.files.filter((f) => f.endsWith('.safetensors'));
  process.stdout.write(
    `${args.output}: preset ${args.preset}, ${summary.parameters.toLocaleString('en-US')} parameters, ` +
      `${(summary.weightBytes / 1e9).toFixed(3)} GB ${dtype} in ${weightFiles.length} safetensors file(s), ` +
      `${seconds.toFixed(1)} s\n`,
  );
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (error instanceof MusicGenError && error.code === 'ERR_MUSICGEN_INVALID_OPTION') {
    process.stderr.write(`make-random-checkpoint: ${error.message}\n(run with --help for usage)\n`);
    process.exit(2);
  }
  throw error;
}
