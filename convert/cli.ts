#!/usr/bin/env node
// musicgen-convert <hf-dir> -o model.gguf [--type f32|f16|q8_0|q4_0|q4_k] [--tokenizer-dir DIR] [--lora DIR[:SCALE]]...
import * as path from 'node:path';
import { parseCommandLine } from '../lib/command-line';
import { MusicGenError } from '../lib/errors';
import { ProgressBar } from '../lib/progress-bar';
import { convertCheckpoint } from './convert';
import { removeTempFiles } from './gguf-writer';
import { parseLoraArgument } from './lora';
import { isOutputType, OUTPUT_TYPES } from './quant-policy';

const USAGE = `Usage: musicgen-convert <hf-dir> -o <model.gguf> [--type ${OUTPUT_TYPES.join('|')}] [--tokenizer-dir <dir>]
                       [--lora <adapter-dir>[:scale]]...

Converts a Hugging Face MusicGen / MusicGen-Melody checkpoint folder (config.json + model.safetensors,
model.safetensors.index.json or pytorch_model.bin, spiece.model) into one GGUF file.

Options:
  -o, --output <file>       GGUF file to write (replaced atomically; nothing is left behind on failure)
  -t, --type <type>         storage type of the large matrices (default f16; a .gguf base keeps its own); see docs/converter.md
      --tokenizer-dir <dir> folder holding spiece.model (default: <hf-dir>, else its parent)
      --lora <dir>[:scale]  PEFT LoRA adapter folder merged before quantisation (repeatable; scale default 1);
                            <hf-dir> may then also be a converted f32/f16 .gguf (see docs/converter.md, LoRA)
      --json                print one JSON object (result or error) on stdout; no progress bar
  -h, --help                show this help`;

async function main(): Promise<void> {
  const { values, positionals, usageError } = parseCommandLine('musicgen-convert', USAGE, {
    output: { type: 'string', short: 'o' },
    type: { type: 'string', short: 't' },
    'tokenizer-dir': { type: 'string' },
    lora: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  json = values.json === true;
  if (positionals.length !== 1)
    return usageError(positionals.length ? 'expected exactly one <hf-dir>' : 'missing <hf-dir>');
  if (!values.output) return usageError('missing -o <model.gguf>');
  const type = values.type;
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
  const result = await convertCheckpoint(positionals[0]!, values.output, {
    type,
    tokenizerDir: values['tokenizer-dir'],
    loras: (values.lora ?? []).map(parseLoraArgument),
    onProgress: bar && ((done, total, tensor) => bar.update(done, total, { unit: 'tensors', note: tensor })),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const output = path.resolve(values.output);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ output, type: result.type, tensors: result.tensors, bytes: result.bytes, seconds })}\n`,
    );
  }
  const mib = (result.bytes / 2 ** 20).toFixed(1);
  bar?.done(`wrote ${output}: ${result.tensors} tensors, ${mib} MiB (${result.type}) in ${seconds.toFixed(1)} s`);
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
