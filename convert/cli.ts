#!/usr/bin/env node
// musicgen-convert <hf-dir> -o model.gguf [--type f32|f16|q8_0|q4_0|q4_k] [--tokenizer-dir DIR]
// musicgen-convert <audiocraft-dir> --base <GGUF or HF folder> -o model.gguf [--type ...]
import * as path from 'node:path';
import { parseCommandLine } from '../lib/command-line';
import { MusicGenError } from '../lib/errors';
import { ProgressBar } from '../lib/progress-bar';
import { isAudiocraftDir } from './audiocraft-checkpoint';
import { convertCheckpoint } from './convert';
import { convertAudiocraft } from './convert-audiocraft';
import { removeTempFiles } from './gguf-writer';
import { isOutputType, OUTPUT_TYPES } from './quant-policy';

const USAGE = `Usage: musicgen-convert <hf-dir> -o <model.gguf> [--type ${OUTPUT_TYPES.join('|')}] [--tokenizer-dir <dir>]
       musicgen-convert <audiocraft-dir> --base <model.gguf|hf-dir> -o <model.gguf> [--type ...]

Converts a Hugging Face MusicGen / MusicGen-Melody checkpoint folder (config.json + model.safetensors,
model.safetensors.index.json or pytorch_model.bin, spiece.model) into one GGUF file; or an audiocraft export
(state_dict.bin [+ compression_state_dict.bin], what fine-tunes ship) with T5, tokenizer and EnCodec from --base.

Options:
  -o, --output <file>       GGUF file to write (replaced atomically; nothing is left behind on failure)
  -t, --type <type>         storage type of the large matrices (default f16); see docs/converter.md
      --tokenizer-dir <dir> folder holding spiece.model (default: <hf-dir>, else its parent)
      --base <gguf|hf-dir>  for an audiocraft export (state_dict.bin [+ compression_state_dict.bin]): the
                            converted GGUF or HF MusicGen folder giving T5, tokenizer and (pointer form) EnCodec;
                            --type defaults to the base GGUF's type
      --json                print one JSON object (result or error) on stdout; no progress bar
  -h, --help                show this help`;

async function main(): Promise<void> {
  const { values, positionals, usageError } = parseCommandLine('musicgen-convert', USAGE, {
    output: { type: 'string', short: 'o' },
    type: { type: 'string', short: 't' },
    'tokenizer-dir': { type: 'string' },
    base: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  json = values.json === true;
  if (positionals.length !== 1)
    return usageError(positionals.length ? 'expected exactly one <hf-dir>' : 'missing <hf-dir>');
  if (!values.output) return usageError('missing -o <model.gguf>');
  const audiocraft = isAudiocraftDir(positionals[0]!);
  if (values.base !== undefined && !audiocraft)
    return usageError('--base applies to an audiocraft export folder (state_dict.bin, no config.json)');
  const type = values.type ?? (audiocraft ? undefined : 'f16');
  if (type !== undefined && !isOutputType(type))
    return usageError(`unknown --type '${type}' (expected ${OUTPUT_TYPES.join(', ')})`);

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      removeTempFiles();
      process.stderr.write(`\nmusicgen-convert: interrupted (${signal}); no output written\n`);
      process.exit(code);
    });
  }
  const bar = process.stderr.isTTY && !json ? new ProgressBar('converting') : undefined;
  const started = process.hrtime.bigint();
  const onProgress =
    bar &&
    ((done: number, total: number, tensor: string) => bar.update(done, total, { unit: 'tensors', note: tensor }));
  const result = audiocraft
    ? await convertAudiocraft(positionals[0]!, values.output, {
        base: values.base ?? '',
        type,
        tokenizerDir: values['tokenizer-dir'],
        onProgress,
      })
    : await convertCheckpoint(positionals[0]!, values.output, {
        type,
        tokenizerDir: values['tokenizer-dir'],
        onProgress,
      });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const output = path.resolve(values.output);
  const writtenType = 'type' in result ? result.type : type;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ output, type: writtenType, tensors: result.tensors, bytes: result.bytes, seconds })}\n`,
    );
  }
  const mib = (result.bytes / 2 ** 20).toFixed(1);
  bar?.done(`wrote ${output}: ${result.tensors} tensors, ${mib} MiB (${writtenType}) in ${seconds.toFixed(1)} s`);
}

// --json: errors are JSON on stdout too, so a caller parses one object whatever happened.
let json = false;

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  if (json) {
    const code = error instanceof MusicGenError ? error.code : 'ERR_MUSICGEN_INTERNAL';
    process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  } else {
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}musicgen-convert: error: ${message}\n`);
  }
  process.exit(1);
});
