// Resource limits (lib/memory-budget.ts): the estimate must match figures computed by hand from the native
// allocation formulas and, for the EnCodec decoders, the compute memory they really allocate; requests over the
// budget must be refused before any native work starts, and requests at or under it must run. Long-form requests
// are bounded by their window, not their total length.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen, MusicGenError, type ModelInfo } from '../lib';
import { MemoryBudgetError } from '../lib/errors';
import {
  estimateMemory,
  formatBytes,
  streamDecodeBytes,
  wholeDecodeBytes,
  type MemoryRequest,
} from '../lib/memory-budget';
import { native } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { runtimeInfo } from '../lib/runtime';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-budget-'));
const file = path.join(tmp, 'tiny-f32.gguf');
let gen: MusicGen;
t.before(async () => {
  await convertCheckpoint(path.join(fixtures, 'musicgen-tiny'), file, { type: 'f32' });
  gen = await MusicGen.load(file, { backend: 'cpu', threads: 1 });
});
t.teardown(() => {
  gen.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Counts calls into the native entry points that start work (jobs, encoders, chroma) while `body` runs.
async function nativeCalls(body: () => Promise<unknown>): Promise<Record<string, number>> {
  const addon = native() as unknown as Record<string, unknown>;
  const names = ['generate', 'stream', 'encodeAudio', 'decodeCodes', 'chroma', 'encodeText'].filter(
    (n) => typeof addon[n] === 'function',
  );
  const calls: Record<string, number> = {};
  const originals = new Map<string, unknown>();
  for (const name of names) {
    const original = addon[name] as (...args: unknown[]) => unknown;
    originals.set(name, original);
    calls[name] = 0;
    addon[name] = (...args: unknown[]) => {
      calls[name]!++;
      return original.apply(addon, args);
    };
  }
  try {
    await body();
  } finally {
    for (const [name, original] of originals) addon[name] = original;
  }
  return calls;
}

function tinyRequest(over: Partial<MemoryRequest> = {}): MemoryRequest {
  return { prompts: 2, textTokens: 5, guided: true, windowFrames: 100, outputFrames: 100, decode: 'whole', ...over };
}

t.test('the estimate matches a hand-computed figure (tiny model)', async (t) => {
  // musicgen-tiny: LM hidden 48, 2 layers, 4 codebooks (mono: 4 delay groups), T5 4 heads, hop 640, EnCodec
  // numFilters 2, lastKernelSize 7, f32 file; the decoder's convolutions as gathered columns times ggml's products
  // (the scalar kernel set's and ggml's; the direct ones' figure follows).
  const info = { ...gen.info, codecConvolutions: 'columns' as const };
  t.equal(info.hparams.lm.embeddingLength, 48);
  t.equal(info.hparams.lm.blockCount, 2);
  t.equal(info.hparams.codec.numFilters, 2);
  const e = estimateMemory(info, tinyRequest());
  // KV: layers 2 * (K, V) 2 * hidden 48 * positions (100 + 4 - 1 = 103) * rows (2 prompts * CFG 2 = 4) * 4 bytes.
  t.equal(e.kvCache, 2 * 2 * 48 * 103 * 4 * 4);
  t.equal(e.kvCache, 316416);
  // Cross-attention K/V: layers 2 * 2 * hidden 48 * 5 tokens * 2 prompts * 4 bytes.
  t.equal(e.crossAttention, 7680);
  // T5: position bias + one layer's scores: 2 * 2 prompts * 4 heads * 5^2 * 4 bytes.
  t.equal(e.textEncoder, 1600);
  // Delayed codes 2 * 4 * (100 + 4) * 4 + result codes 2 * 4 * 100 * 4.
  t.equal(e.codes, 3328 + 3200);
  // Audio 2 prompts * 1 channel * 64000 samples * 4 bytes.
  t.equal(e.audio, 512000);
  // One channel's one-shot decode, pushed through a streaming decoder 25 frames at a time: its largest window is a
  // chunk of 25 * 640 samples plus the last convolution's 6 samples of context, each (the ELU and last convolution:
  // columns 2 filters * 7 taps + input 2 + ELU output 2 + int32 indices 7 + output 1 =) 26 values * 4 bytes, * 1.01
  // allocator slack.
  t.equal(e.decode, Math.ceil((25 * 640 + 6) * 26 * 4 * 1.01));
  t.equal(e.decode, 1681271);
  // On a GPU the one-shot decode stays one graph per stretch of stages: 64000 samples * (the same 26 values + the
  // residual convolutions' int32 gather indices 3 taps * (1 + 1/4 + 1/16 + 1/80)) * 4 bytes * 1.01.
  t.equal(
    estimateMemory({ ...info, backend: 'Vulkan0' }, tinyRequest()).decode,
    Math.ceil(64000 * (26 * 4 + 3.975 * 4) * 1.01),
  );
  // Peak: the decode runs inside the LM's frame loop, so LM (316416 + 7680 + 1600 + 6528) + decode + audio.
  t.equal(e.total, 316416 + 7680 + 1600 + 6528 + 1681271 + 512000);
  t.equal(formatBytes(e.total), '2.4 MiB');

  const noCfg = estimateMemory(info, tinyRequest({ guided: false }));
  t.equal(noCfg.kvCache, e.kvCache / 2, 'guidance off halves the KV cache');
  const streamed = estimateMemory(info, tinyRequest({ decode: 'stream', chunkFrames: 25 }));
  // One streaming decoder per prompt and channel, sharing one workspace that holds the largest window: a chunk of
  // 25 * 640 samples plus the last convolution's 6 samples of context, 26 values * 4 bytes each, * 1.01.
  t.equal(streamed.decode, Math.ceil((25 * 640 + 6) * 26 * 4 * 1.01), 'streams decode chunk by chunk');
  t.equal(streamed.audio, 2 * 2 * 1 * 25 * 640 * 4, 'two buffered chunks per prompt');
  t.equal(streamed.total, 316416 + 7680 + 1600 + 6528 + streamed.decode + streamed.audio);

  // Direct convolutions (AVX2 / AVX-512): no columns; the largest step is the full-rate residual block, 6 values per
  // sample (input 2, hidden 1, output 2, int32 indices 1).
  const direct = estimateMemory({ ...info, codecConvolutions: 'direct' }, tinyRequest());
  t.equal(direct.decode, Math.ceil((25 * 640 + 6) * 6 * 4 * 1.01));
  t.equal(direct.decode, 387986);
});

t.test('the estimate at real size: musicgen-small, 30 s, f16 (hand-computed)', async (t) => {
  const small = { ...(structuredClone(gen.info) as ModelInfo), codecConvolutions: 'columns' as const };
  Object.assign(small.hparams.lm, { embeddingLength: 1024, blockCount: 24 });
  Object.assign(small.hparams.t5, { headCount: 12 });
  Object.assign(small.hparams.codec, { numFilters: 64, lastKernelSize: 7, hopLength: 640 });
  const f16 = { ...small, fileType: 1 };
  const request: MemoryRequest = {
    prompts: 1,
    textTokens: 12,
    guided: true,
    windowFrames: 1500,
    outputFrames: 1500,
    decode: 'whole',
  };
  const e = estimateMemory(f16, request);
  t.equal(e.kvCache, 24 * 2 * 1024 * 1503 * 2 * 4); // 563.6 MiB
  t.equal(formatBytes(e.kvCache), '563.6 MiB');
  // The decoder's matrices are F32 whatever the file type: a 25-frame window of 16000 + 6 samples * (the ELU and
  // last convolution's columns 64 * 7, input 64, ELU output 64, int32 indices 7, output 1 = 584 values) * 4 bytes
  // * 1.01, however long the clip.
  t.equal(e.decode, Math.ceil((25 * 640 + 6) * 584 * 4 * 1.01));
  t.equal(formatBytes(e.decode), '36.0 MiB');
  const f32 = { ...small, fileType: 0 };
  t.equal(estimateMemory(f32, request).decode, e.decode, 'f32 and f16 files decode alike');
  t.equal(formatBytes(e.total), '605.6 MiB');
  // Direct convolutions: the full-rate residual block's input 64, hidden 32, output 64 and int32 indices 1 = 161
  // values per sample (the last upsampling's 64 + 128 / 4 + 1 / 4).
  const direct = estimateMemory({ ...f16, codecConvolutions: 'direct' }, request);
  t.equal(direct.decode, Math.ceil((25 * 640 + 6) * 161 * 4 * 1.01));
  t.equal(formatBytes(direct.decode), '9.9 MiB');
});

t.test('generate() over a tiny budget is refused before any native call', async (t) => {
  let error: unknown;
  const calls = await nativeCalls(async () => {
    const started = performance.now();
    await gen.generate('lofi beat', { frames: 100, memoryBudget: 100_000 }).catch((e: unknown) => (error = e));
    t.ok(performance.now() - started < 1000, 'refused at once');
  });
  t.type(error, MemoryBudgetError);
  t.equal((error as MusicGenError).code, 'ERR_MUSICGEN_MEMORY_BUDGET');
  // The decoder's share depends on how it convolves (the estimate above): 791.1 KiB in all with direct convolutions.
  const needs = gen.info.codecConvolutions === 'direct' ? '791\\.1 KiB' : '2\\.0 MiB';
  t.match((error as Error).message, new RegExp(`^This generate\\(\\) request needs about ${needs} \\(KV cache`));
  t.match((error as Error).message, /over the memory budget of 97\.7 KiB\. Ask for a shorter duration/);
  t.equal((error as MemoryBudgetError).budget, 100_000);
  t.ok((error as MemoryBudgetError).needed > 100_000);
  t.same(
    Object.values(calls).filter((n) => n > 0),
    [],
    `no native work started: ${JSON.stringify(calls)}`,
  );
});

t.test('an audio prompt is not encoded when the request is already over budget', async (t) => {
  let error: unknown;
  const audioPrompt = { channels: [new Float32Array(32000)], sampleRate: 32000 };
  const calls = await nativeCalls(async () => {
    await gen.generate('x', { frames: 50, audioPrompt, memoryBudget: 50_000 }).catch((e: unknown) => (error = e));
  });
  t.equal((error as MusicGenError).code, 'ERR_MUSICGEN_MEMORY_BUDGET');
  t.equal(calls.encodeAudio ?? 0, 0, 'the EnCodec encoder did not run');
  t.equal(calls.generate ?? 0, 0);
});

t.test('stream() over budget throws synchronously; the model budget applies without an option', async (t) => {
  const small = await MusicGen.load(file, { backend: 'cpu', threads: 1, memoryBudget: 100_000 });
  t.teardown(() => small.dispose());
  const calls = await nativeCalls(async () => {
    t.throws(() => small.stream('x', { frames: 100 }), {
      code: 'ERR_MUSICGEN_MEMORY_BUDGET',
      name: 'MemoryBudgetError',
    });
    await t.rejects(small.generate('x', { frames: 100 }), { code: 'ERR_MUSICGEN_MEMORY_BUDGET' });
  });
  t.equal(calls.generate ?? 0, 0, 'no native job started (stream() and generate() share it)');
  // A per-request budget overrides the model's.
  const result = await small.generate('x', { frames: 3, memoryBudget: Infinity });
  t.equal(result.codes.frames, 3);
});

t.test('the check uses exactly the estimate: at the budget runs, one byte under is refused', async (t) => {
  const prompt = 'lofi beat with warm piano';
  const frames = 20;
  const estimate = estimateMemory(gen.info, {
    prompts: 1,
    textTokens: gen.tokenize(prompt).length,
    guided: true, // default guidanceScale 3
    windowFrames: frames,
    outputFrames: frames,
    decode: 'whole',
  });
  await t.rejects(gen.generate(prompt, { frames, memoryBudget: estimate.total - 1 }), {
    code: 'ERR_MUSICGEN_MEMORY_BUDGET',
  });
  const result = await gen.generate(prompt, { frames, memoryBudget: estimate.total, seed: 1 });
  t.equal(result.codes.frames, frames, 'a request exactly at its budget works');
  t.equal(result.channels[0]!.length, frames * 640);

  // Streams: the LM session plus two buffered chunks.
  const streamed = estimateMemory(gen.info, {
    prompts: 1,
    textTokens: gen.tokenize(prompt).length,
    guided: true,
    windowFrames: frames,
    outputFrames: frames,
    decode: 'stream',
    chunkFrames: 10,
  });
  t.throws(() => gen.stream(prompt, { frames, chunkFrames: 10, memoryBudget: streamed.total - 1 }), {
    code: 'ERR_MUSICGEN_MEMORY_BUDGET',
  });
  let samples = 0;
  for await (const chunk of gen.stream(prompt, { frames, chunkFrames: 10, memoryBudget: streamed.total }))
    samples += chunk.frames;
  t.equal(samples, frames * 640);
});

t.test('long-form requests are bounded by their window', async (t) => {
  const info = gen.info;
  const window = 1500; // 30 s at 50 Hz: the tiny model's maxDuration
  const total = 3000; // 60 s
  const tokens = gen.tokenize('x').length;
  const base = { prompts: 1, textTokens: tokens, guided: true };
  // stream(): the KV cache of one window, whatever the total length.
  const streamed = estimateMemory(info, {
    ...base,
    windowFrames: window,
    outputFrames: total,
    decode: 'stream',
    chunkFrames: 25,
  });
  const oneBigWindow = estimateMemory(info, {
    ...base,
    windowFrames: total,
    outputFrames: total,
    decode: 'stream',
    chunkFrames: 25,
  });
  t.ok(streamed.kvCache < oneBigWindow.kvCache);
  const stream = gen.stream('x', { duration: 60, memoryBudget: streamed.total });
  await stream.return();
  t.throws(() => gen.stream('x', { duration: 60, memoryBudget: streamed.total - 1 }), {
    code: 'ERR_MUSICGEN_MEMORY_BUDGET',
  });
  // generate(): the window's KV cache, but the whole 60 s decoded at the end.
  const whole = estimateMemory(info, { ...base, windowFrames: window, outputFrames: total, decode: 'whole' });
  t.equal(whole.kvCache, streamed.kvCache);
  const calls = await nativeCalls(() =>
    t.rejects(gen.generate('x', { duration: 60, memoryBudget: whole.total - 1 }), {
      code: 'ERR_MUSICGEN_MEMORY_BUDGET',
      message: new RegExp(`needs about ${formatBytes(whole.total).replace('.', '\\.')} `),
    }),
  );
  t.equal(calls.generate, 0);
});

t.test('memoryBudget options are validated', async (t) => {
  await t.rejects(MusicGen.load(file, { memoryBudget: 0 }), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message:
      'Expected a positive number of bytes (or Infinity for no limit) for memoryBudget but received 0 of type number',
  });
  await t.rejects(gen.generate('x', { frames: 2, memoryBudget: NaN }), { code: 'ERR_MUSICGEN_INVALID_OPTION' });
  t.throws(() => gen.stream('x', { frames: 2, memoryBudget: -5 }), { code: 'ERR_MUSICGEN_INVALID_OPTION' });
});

// The EnCodec part of the estimate against what the decoders really allocate: the compute buffer of the graph
// runner a decode ran in (ggml's graph allocator keeps the largest graph's), read back by the diagnostics API.
// The estimate must never be below the measurement and at most 25 % above it, for the one-shot decoder
// (generate()'s decode: 'whole') and the streaming one, with chunks and with one chunk of all frames.
t.test('the decode estimate matches the compute memory the decoders allocate', async (t) => {
  const FACTOR = 1.25;
  const diagnostics = nativeDiagnostics();
  const within = (t: Test, estimate: number, measured: number, what: string) => {
    const ratio = estimate / measured;
    t.ok(
      measured > 0 && ratio >= 1 && ratio <= FACTOR,
      `${what}: estimate ${estimate}, measured ${measured} (x${ratio.toFixed(3)})`,
    );
  };
  for (const [fixture, type] of [
    ['musicgen-tiny', 'f32'],
    ['musicgen-tiny', 'f16'],
    ['musicgen-stereo-tiny', 'f32'],
  ] as const) {
    const gguf = path.join(tmp, `${fixture}-${type}.gguf`);
    if (!fs.existsSync(gguf)) await convertCheckpoint(path.join(fixtures, fixture), gguf, { type });
    const model = await native().loadModel(gguf, { backend: 'cpu', threads: 1 });
    t.teardown(() => model.dispose());
    const info = model.info();
    const codec = info.hparams.codec;
    const codebooks = info.codebooks / info.channels; // one channel's decoder
    // Direct convolutions with the AVX2 / AVX-512 kernel sets, gathered columns with the scalar ones and ggml's
    // (cpu-kernels.test.ts runs this file under each).
    const direct = info.codecConvolutions === 'direct';
    t.equal(direct, ['avx2', 'avx512'].includes(runtimeInfo().cpuKernels), `convolutions: ${info.codecConvolutions}`);
    for (const frames of [10, 50, 150]) {
      let state = frames;
      const codes = Int32Array.from({ length: codebooks * frames }, () => {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        return state % codec.codebookSize;
      });
      const label = `${fixture} ${type}, ${frames} frames`;
      const whole = await diagnostics.decodeCodes(model, codes, codebooks, frames, []);
      within(t, wholeDecodeBytes(codec, frames, true, direct), whole.computeBytes, `${label}, one-shot decode`);
      for (const chunkFrames of [frames, 25, 1]) {
        const streamed = await diagnostics.decodeCodesStreaming(model, codes, codebooks, frames, chunkFrames);
        within(
          t,
          streamDecodeBytes(codec, frames, chunkFrames, direct),
          streamed.computeBytes,
          `${label}, chunks of ${chunkFrames}`,
        );
      }
      // The request-level figures: one one-shot decoder at a time for generate(), one workspace shared by the
      // streaming decoders (one per prompt and channel) for stream().
      const request = { prompts: 2, textTokens: 5, guided: true, windowFrames: frames, outputFrames: frames };
      t.equal(
        estimateMemory(info, { ...request, decode: 'whole' }).decode,
        wholeDecodeBytes(codec, frames, true, direct),
      );
      t.equal(
        estimateMemory(info, { ...request, decode: 'stream', chunkFrames: 25 }).decode,
        streamDecodeBytes(codec, frames, 25, direct),
      );
    }
  }
});
