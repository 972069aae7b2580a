#!/usr/bin/env node
'use strict';
// Streams a generation into a WAV file as the audio is made.
//
//   node examples/stream-to-wav.js "<prompt>" [model.gguf] [out.wav] [seconds]
//
// Without a model path it uses the small random-weight smoke-test model bundled with the package (it makes noise,
// not music: convert a real checkpoint with `npx musicgen-convert` for that). The WAV header's sizes are updated
// after every chunk, so you can play the file while it grows, and an interrupted run (Ctrl-C) leaves a valid
// WAV of everything generated so far.
const { MusicGen, MusicGenError, WavFileWriter, defaultModelPath } = require('musicgen-native');

async function main() {
  const [prompt, modelArg, output = 'out.wav', secondsArg = '10'] = process.argv.slice(2);
  if (!prompt) {
    console.error('usage: node stream-to-wav.js "<prompt>" [model.gguf] [out.wav] [seconds]');
    process.exit(2);
  }
  const duration = Number(secondsArg);
  if (!Number.isFinite(duration) || duration <= 0) {
    console.error(`seconds must be a positive number, got "${secondsArg}"`);
    process.exit(2);
  }

  const gen = await MusicGen.load(modelArg || defaultModelPath()); // '' = the default model too
  const { sampleRate, channels } = gen.info;
  const writer = new WavFileWriter(output, sampleRate, channels); // 16-bit PCM, header patched per chunk
  // Ctrl-C stops the generation within one LM step; the file keeps what was written.
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());

  const started = Date.now();
  let written = 0;
  try {
    for await (const chunk of gen.stream(prompt, { duration, signal: controller.signal })) {
      writer.write(chunk.channels);
      written += chunk.frames;
      if (written === chunk.frames) console.error(`first audio after ${Date.now() - started} ms`);
      process.stderr.write(`\r${(written / sampleRate).toFixed(1)} s of ${duration} s`);
    }
    process.stderr.write('\n');
  } catch (error) {
    if (!(error instanceof MusicGenError && error.code === 'ERR_MUSICGEN_ABORTED')) throw error;
    process.stderr.write('\ninterrupted\n');
  } finally {
    writer.close();
    gen.dispose();
  }
  const seconds = (written / sampleRate).toFixed(2);
  console.log(`wrote ${output}: ${seconds} s, ${channels} channel(s), ${sampleRate} Hz, in ${Date.now() - started} ms`);
}

main().catch((error) => {
  const code = error instanceof MusicGenError ? ` [${error.code}]` : '';
  console.error(`stream-to-wav: ${error instanceof Error ? error.message : String(error)}${code}`);
  process.exit(1);
});
