#!/usr/bin/env node
// musicgen "prompt" [-m model.gguf] -o out.wav [-d seconds] [--top-k N] [--top-p P] [--temperature T] [--cfg S] [--seed N]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempFiles } from '../convert/gguf-writer';
import { convertedModel, DEFAULT_CACHED_TYPE } from '../convert/converted-cache';
import { isRepoId } from '../convert/hub/resolve';
import { isOutputType, OUTPUT_TYPES } from '../convert/quant-policy';
import { parseCommandLine } from './command-line';
import { defaultModelPath } from './default-model';
import { MusicGenError } from './errors';
import { MusicGen } from './musicgen';
import { downloadProgress, ProgressBar } from './progress-bar';
import { writeWav } from './wav';
import { WavFileWriter } from './wav-writer';

const USAGE = `Usage: musicgen "<prompt>" [-m <model.gguf>] [-o <out.wav>] [options]

Generates music from a text prompt with a model converted by musicgen-convert.

Options:
  -m, --model <file>        GGUF model (default: the bundled smoke-test model, random weights: noise, not music),
                            or a Hugging Face repo id (owner/name): downloaded and converted once into a cache
      --type <type>         storage type when -m is a repo id: ${OUTPUT_TYPES.join(', ')} (default ${DEFAULT_CACHED_TYPE})
      --revision <rev>      branch, tag or commit when -m is a repo id (default main)
  -o, --output <file>       WAV file to write (default out.wav; written atomically)
  -d, --duration <seconds>  length of the music (default 10)
      --top-k <n>           sample from the n most likely codes (default 250; 1 = greedy)
      --top-p <p>           nucleus sampling threshold in (0, 1) (default 0 = off)
      --temperature <t>     sampling temperature > 0 (default 1)
      --cfg <scale>         classifier-free guidance scale (default 3)
      --seed <n>            random seed for reproducible output (default random)
      --threads <n>         CPU threads (default: all)
      --backend <name>      auto | cpu | cuda | vulkan | metal (default auto)
      --bit-depth <16|32f>  WAV sample format (default 16)
      --stream              write the WAV while generating (a partial file stays playable if interrupted)
      --melody <file.wav>   melody to follow (MusicGen-Melody models)
      --audio-prompt <file.wav>  audio to continue (the output starts with it)
      --json                print one JSON object (result or error) on stdout; no progress bar
  -h, --help                show this help`;

async function main(): Promise<void> {
  const { values, positionals, usageError } = parseCommandLine('musicgen', USAGE, {
    model: { type: 'string', short: 'm' },
    type: { type: 'string' },
    revision: { type: 'string' },
    output: { type: 'string', short: 'o' },
    duration: { type: 'string', short: 'd' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    temperature: { type: 'string' },
    cfg: { type: 'string' },
    seed: { type: 'string' },
    threads: { type: 'string' },
    backend: { type: 'string' },
    'bit-depth': { type: 'string' },
    stream: { type: 'boolean' },
    melody: { type: 'string' },
    'audio-prompt': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  json = values.json === true;
  const numberOption = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed))
      return usageError(`--${name} expects a number, got '${value}'`);
    return parsed;
  };
  if (positionals.length !== 1)
    return usageError(positionals.length ? 'expected exactly one prompt' : 'missing "<prompt>"');
  const type = values.type ?? DEFAULT_CACHED_TYPE;
  if (!isOutputType(type)) return usageError(`unknown --type '${type}' (expected ${OUTPUT_TYPES.join(', ')})`);
  const fromHub = values.model !== undefined && !fs.existsSync(values.model) && isRepoId(values.model);
  if (!fromHub && (values.type !== undefined || values.revision !== undefined))
    return usageError('--type and --revision apply only when -m names a Hugging Face repo id (owner/name)');
  let model = values.model ?? defaultModelPath();
  if (!values.model) process.stderr.write(SMOKE_TEST_NOTICE);
  if (fromHub) {
    // Fetched into the HF cache, converted once into ours (docs/converter.md, "musicgen -m owner/name").
    const tty = process.stderr.isTTY && !json;
    let converting: ProgressBar | undefined; // made when conversion starts, so its rate leaves the download out
    // Interrupted while converting: no temp GGUF left in the cache (a .incomplete download is kept for resuming).
    const onSignal = (signal: NodeJS.Signals) => {
      removeTempFiles();
      process.stderr.write(`\nmusicgen: interrupted (${signal})\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    const cached = await convertedModel(values.model!, {
      type,
      hub: { ...(values.revision !== undefined && { revision: values.revision }), ...(tty && downloadProgress()) },
      ...(tty && {
        onConvertProgress: (done: number, total: number, tensor: string) =>
          (converting ??= new ProgressBar('converting')).update(done, total, { unit: 'tensors', note: tensor }),
      }),
    });
    if (cached.converted && tty)
      process.stderr.write(`\nmusicgen: converted ${values.model} (${type}) into ${cached.path}\n`);
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    model = cached.path;
  }
  const output = values.output ?? 'out.wav';
  const bitDepth = values['bit-depth'] ?? '16';
  if (bitDepth !== '16' && bitDepth !== '32f') return usageError(`--bit-depth expects 16 or 32f, got '${bitDepth}'`);

  const threads = numberOption('threads', values.threads);
  const gen = await MusicGen.load(model, {
    ...(threads !== undefined && { threads }),
    ...(values.backend !== undefined && { backend: values.backend as 'auto' }),
  });
  const sampling = {
    duration: numberOption('duration', values.duration) ?? 10,
    ...(values['top-k'] !== undefined && { topK: numberOption('top-k', values['top-k']) }),
    ...(values['top-p'] !== undefined && { topP: numberOption('top-p', values['top-p']) }),
    ...(values.temperature !== undefined && { temperature: numberOption('temperature', values.temperature) }),
    ...(values.cfg !== undefined && { guidanceScale: numberOption('cfg', values.cfg) }),
    ...(values.seed !== undefined && { seed: numberOption('seed', values.seed) }),
    ...(values.melody !== undefined && { melody: { path: values.melody } }),
    ...(values['audio-prompt'] !== undefined && { audioPrompt: { path: values['audio-prompt'] } }),
  };
  const { sampleRate, channels, backend } = gen.info;
  const bar = process.stderr.isTTY && !json ? new ProgressBar(values.stream ? 'streaming' : 'generating') : undefined;
  const started = process.hrtime.bigint();
  let samples = 0;
  try {
    if (values.stream) {
      // Written as it arrives, header patched per chunk: an interrupted run leaves a playable partial WAV.
      const writer = new WavFileWriter(output, sampleRate, channels, bitDepth);
      const total = sampling.duration * sampleRate;
      try {
        for await (const chunk of gen.stream(positionals[0]!, sampling)) {
          writer.write(chunk.channels);
          samples += chunk.frames;
          const seconds = Math.min(samples, total) / sampleRate;
          bar?.update(seconds, sampling.duration, { audioSeconds: seconds });
        }
      } finally {
        writer.close();
      }
    } else {
      const result = await gen.generate(positionals[0]!, {
        ...sampling,
        ...(bar && {
          onProgress: ({ step, totalSteps }) =>
            bar.update(step, totalSteps, { unit: 'steps', audioSeconds: (step / totalSteps) * sampling.duration }),
        }),
      });
      await writeWav(output, result, { bitDepth });
      samples = result.channels[0]!.length;
    }
  } finally {
    gen.dispose();
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = {
    output: path.resolve(output),
    seconds: samples / sampleRate,
    sampleRate,
    channels,
    bitDepth,
    model: path.resolve(model),
    smokeTestModel: values.model === undefined,
    backend,
    elapsedSeconds: elapsed,
    realTimeFactor: samples / sampleRate / elapsed,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const line = `wrote ${summary.output}: ${summary.seconds.toFixed(2)} s, ${channels} channel(s), ${sampleRate} Hz in ${elapsed.toFixed(1)} s (${summary.realTimeFactor.toFixed(2)}x real time)`;
    bar?.done(line);
  }
}

const SMOKE_TEST_NOTICE = `musicgen: no -m given: using the bundled smoke-test model (random weights; it makes noise, not music).
musicgen: for real music, convert facebook/musicgen-small (see the README) and pass -m musicgen-small.gguf.
`;

// --json: errors are JSON on stdout too, so a caller parses one object whatever happened.
let json = false;

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof MusicGenError ? error.code : 'ERR_MUSICGEN_INTERNAL';
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`musicgen: ${message} [${code}]\n`);
  process.exit(1);
});
