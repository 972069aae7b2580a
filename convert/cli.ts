#!/usr/bin/env node
// musicgen-convert <hf-dir | owner/name | model.gguf> -o model.gguf [--type f32|f16|q8_0|q4_0|q4_k] [--tokenizer-dir DIR]
//                  [--revision R] [--lora DIR[:SCALE]]...
// musicgen-convert <audiocraft-dir> --base <GGUF, HF folder or owner/name> -o model.gguf [--type ...]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommandLine } from '../lib/command-line';
import { MusicGenError } from '../lib/errors';
import { downloadProgress, ProgressBar } from '../lib/progress-bar';
import { isAudiocraftDir } from './checkpoint-layout';
import { convertCheckpoint } from './convert';
import { convertAudiocraft } from './audiocraft/convert';
import { removeTempFiles } from './gguf-writer';
import { parseLoraArgument } from './lora';
import { isRepoId, resolveCheckpointDir } from './hub/resolve';
import { isOutputType, OUTPUT_TYPES } from './quant-policy';

const USAGE = `Usage: musicgen-convert <hf-dir> -o <model.gguf> [--type ${OUTPUT_TYPES.join('|')}] [--tokenizer-dir <dir>]
       musicgen-convert <owner/name> -o <model.gguf> [--revision <rev>] [--type ...]
       musicgen-convert <hf-dir|owner/name|model.gguf> --lora <adapter>[:scale] [--lora ...] -o <model.gguf>
       musicgen-convert <audiocraft-dir> --base <model.gguf|hf-dir|owner/name> -o <model.gguf> [--type ...]

Converts a Hugging Face MusicGen / MusicGen-Melody checkpoint folder (config.json + model.safetensors,
model.safetensors.index.json or pytorch_model.bin, spiece.model) into one GGUF file. An argument that is not an
existing path and reads owner/name is a Hugging Face Hub repo id: only the files conversion needs are downloaded
(resumable, verified) into the Hugging Face cache (HF_HOME / HF_HUB_CACHE; HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE=1).
An audiocraft export (state_dict.bin [+ compression_state_dict.bin], what fine-tunes ship) takes T5, tokenizer and
EnCodec from --base.

Options:
  -o, --output <file>       GGUF file to write (replaced atomically; nothing is left behind on failure)
  -t, --type <type>         storage type of the large matrices (default f16; a .gguf base keeps its own); see docs/converter.md
      --tokenizer-dir <dir> folder holding spiece.model (default: <hf-dir>, else its parent)
      --revision <rev>      branch, tag or commit of a repo id (default main; --lora repo ids are fetched at main)
      --lora <dir>[:scale]  PEFT LoRA adapter (folder or repo id) merged before quantisation (repeatable; scale
                            default 1); the base may then also be a converted f32/f16 .gguf (docs/converter.md, LoRA)
      --base <gguf|hf-dir>  for an audiocraft export (state_dict.bin [+ compression_state_dict.bin]): the
                            converted GGUF, HF MusicGen folder or repo id giving T5, tokenizer and (pointer form)
                            EnCodec; --type defaults to the base GGUF's type
      --json                print one JSON object (result or error) on stdout; no progress bar
  -h, --help                show this help`;

async function main(): Promise<void> {
  const { values, positionals, usageError } = parseCommandLine('musicgen-convert', USAGE, {
    output: { type: 'string', short: 'o' },
    type: { type: 'string', short: 't' },
    'tokenizer-dir': { type: 'string' },
    revision: { type: 'string' },
    base: { type: 'string' },
    lora: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  json = values.json === true;
  if (positionals.length !== 1)
    return usageError(positionals.length ? 'expected exactly one <hf-dir>' : 'missing <hf-dir>');
  if (!values.output) return usageError('missing -o <model.gguf>');
  const fromHub = (spec: string | undefined) => spec !== undefined && !fs.existsSync(spec) && isRepoId(spec);
  if (values.revision !== undefined && !fromHub(positionals[0]) && !fromHub(values.base))
    return usageError('--revision applies only to a Hugging Face repo id (owner/name)');
  if (values.base !== undefined && !fromHub(positionals[0]) && !isAudiocraftDir(positionals[0]!))
    return usageError('--base applies to an audiocraft export folder (state_dict.bin, no config.json)');
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
  const tty = process.stderr.isTTY && !json;
  let bar: ProgressBar | undefined; // made at the first tensor: a hub download before it has its own bar
  const started = process.hrtime.bigint();
  const options = {
    tokenizerDir: values['tokenizer-dir'],
    hub: { ...(values.revision !== undefined && { revision: values.revision }), ...(tty && downloadProgress()) },
    ...(tty && {
      onProgress: (done: number, total: number, tensor: string) =>
        (bar ??= new ProgressBar('converting')).update(done, total, { unit: 'tensors', note: tensor }),
    }),
  };
  // A repo id is fetched first: what it holds (HF layout or an audiocraft export) decides the conversion.
  const input = await resolveCheckpointDir(positionals[0]!, options.hub);
  if (values.base !== undefined && !isAudiocraftDir(input))
    return usageError('--base applies to an audiocraft export (state_dict.bin, no config.json)');
  if (values.lora !== undefined && isAudiocraftDir(input))
    return usageError('--lora applies to a Hugging Face checkpoint or a converted .gguf, not an audiocraft export');
  const result = isAudiocraftDir(input)
    ? await convertAudiocraft(input, values.output, { ...options, base: values.base ?? '', type })
    : await convertCheckpoint(input, values.output, {
        ...options,
        type,
        loras: (values.lora ?? []).map(parseLoraArgument),
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
