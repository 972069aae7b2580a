// gen.stream(): chunks from the native streaming thread must concatenate to exactly what generate() returns
// (greedy, so both runs make the same codes), for any chunk size, batches and stereo; and every way of stopping
// a stream (AbortSignal, break, dispose, a throwing consumer, process exit) must end the native job cleanly.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen, toReadable, toWebStream, type AudioChunk } from '../lib';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-stream-'));
const monoFile = path.join(tmp, 'tiny-f32.gguf');
const stereoFile = path.join(tmp, 'stereo-tiny-f32.gguf');
const GREEDY = { topK: 1, guidanceScale: 3, seed: 0 };
const FRAMES = 60;
let gen: MusicGen;
t.before(async () => {
  await convertCheckpoint(path.join(fixtures, 'musicgen-tiny'), monoFile, { type: 'f32' });
  await convertCheckpoint(path.join(fixtures, 'musicgen-stereo-tiny'), stereoFile, { type: 'f32' });
  gen = await MusicGen.load(monoFile, { backend: 'cpu', threads: 2 });
});
t.teardown(() => {
  gen.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function collect(stream: AsyncIterable<AudioChunk>): Promise<AudioChunk[]> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

// Checks chunk bookkeeping and returns each channel's concatenated samples.
function joined(t: Test, chunks: AudioChunk[], channels: number): Float32Array[] {
  let next = 0;
  chunks.forEach((c, i) => {
    t.equal(c.startSample, next, `chunk ${i} starts where the previous ended`);
    t.equal(c.channels.length, channels);
    for (const ch of c.channels) t.equal(ch.length, c.frames);
    t.equal(c.final, i === chunks.length - 1, `final only on the last chunk (${i})`);
    next += c.frames;
  });
  return Array.from({ length: channels }, (_, ch) => {
    const out = new Float32Array(next);
    for (const c of chunks) out.set(c.channels[ch]!, c.startSample);
    return out;
  });
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

t.test('chunks concatenate to generate() audio for any chunk size', async (t) => {
  const reference = await gen.generate('80s pop track', { frames: FRAMES, ...GREEDY });
  for (const chunkFrames of [1, 3, 7, 50]) {
    const chunks = await collect(gen.stream('80s pop track', { frames: FRAMES, chunkFrames, ...GREEDY }));
    t.ok(chunks.every((c) => c.prompt === undefined && c.sampleRate === 32000));
    const [audio] = joined(t, chunks, 1);
    const diff = maxDiff(audio!, reference.channels[0]!);
    t.ok(diff <= 1e-5, `chunkFrames ${chunkFrames}: ${chunks.length} chunks, max |diff| ${diff.toExponential(2)}`);
  }
});

t.test(
  'the first chunk is short by default (firstChunkFrames), and the chunks still concatenate exactly',
  async (t) => {
    const reference = await gen.generate('80s pop track', { frames: FRAMES, ...GREEDY });
    const sizes = (chunks: AudioChunk[]) => chunks.map((c) => c.frames);
    const byDefault = await collect(gen.stream('80s pop track', { frames: FRAMES, chunkFrames: 20, ...GREEDY }));
    // The decoder holds back 4 frames of lookahead: a first push of 8 frames gives about 4 frames of audio.
    t.ok(byDefault[0]!.frames < byDefault[1]!.frames, `default first chunk shorter: ${sizes(byDefault).join(', ')}`);
    t.ok(maxDiff(joined(t, byDefault, 1)[0]!, reference.channels[0]!) <= 1e-5, 'default chunks == generate()');
    const equal = await collect(
      gen.stream('80s pop track', { frames: FRAMES, chunkFrames: 20, firstChunkFrames: 20, ...GREEDY }),
    );
    t.ok(equal[0]!.frames > byDefault[0]!.frames, `firstChunkFrames = chunkFrames: ${sizes(equal).join(', ')}`);
    t.ok(maxDiff(joined(t, equal, 1)[0]!, reference.channels[0]!) <= 1e-5, 'equal chunks == generate()');
    const small = await collect(gen.stream('80s pop track', { frames: FRAMES, chunkFrames: 3, ...GREEDY }));
    t.ok(maxDiff(joined(t, small, 1)[0]!, reference.channels[0]!) <= 1e-5, 'chunks smaller than the default first');
    for (const bad of [0, 21, 2.5, '8']) {
      t.throws(
        () => gen.stream('x', { frames: 10, chunkFrames: 20, firstChunkFrames: bad as number }),
        { code: 'ERR_MUSICGEN_INVALID_OPTION', message: /firstChunkFrames/ },
        `firstChunkFrames ${JSON.stringify(bad)} refused`,
      );
    }
  },
);

t.test('a batch yields one chunk per prompt per step, each prompt matching generate()', async (t) => {
  const prompts = ['80s pop track', 'calm piano'];
  const reference = await gen.generate(prompts, { frames: FRAMES, ...GREEDY });
  const chunks = await collect(gen.stream(prompts, { frames: FRAMES, chunkFrames: 7, ...GREEDY }));
  t.same(
    chunks.map((c) => c.prompt),
    chunks.map((_, i) => i % 2),
    'prompts alternate in order',
  );
  for (let b = 0; b < 2; b++) {
    const [audio] = joined(
      t,
      chunks.filter((c) => c.prompt === b),
      1,
    );
    const diff = maxDiff(audio!, reference[b]!.channels[0]!);
    t.ok(diff <= 1e-5, `prompt ${b}: max |diff| ${diff.toExponential(2)}`);
  }
});

t.test('concurrent streams and a generate() on one model each match their solo result', async (t) => {
  // Per-run state (KV cache, decoders, backend instances) is separate from the shared weights.
  const prompts = ['80s pop track', 'calm piano', 'rock drums'];
  const solo = await Promise.all(prompts.map((p) => gen.generate(p, { frames: 30, ...GREEDY })));
  const [a, b, c] = await Promise.all([
    collect(gen.stream(prompts[0]!, { frames: 30, chunkFrames: 3, ...GREEDY })),
    collect(gen.stream(prompts[1]!, { frames: 30, chunkFrames: 5, ...GREEDY })),
    gen.generate(prompts[2]!, { frames: 30, ...GREEDY }),
  ]);
  t.equal(maxDiff(joined(t, a, 1)[0]!, solo[0]!.channels[0]!), 0, 'stream 1');
  t.equal(maxDiff(joined(t, b, 1)[0]!, solo[1]!.channels[0]!), 0, 'stream 2');
  t.equal(maxDiff(c.channels[0]!, solo[2]!.channels[0]!), 0, 'generate');
});

t.test('stereo: rows 2q / 2q + 1 decode to left / right', async (t) => {
  const stereo = await MusicGen.load(stereoFile, { backend: 'cpu', threads: 2 });
  t.teardown(() => stereo.dispose());
  const reference = await stereo.generate('80s pop track', { frames: 30, ...GREEDY });
  const chunks = await collect(stereo.stream('80s pop track', { frames: 30, chunkFrames: 7, ...GREEDY }));
  joined(t, chunks, 2).forEach((audio, ch) => {
    const diff = maxDiff(audio, reference.channels[ch]!);
    t.ok(diff <= 1e-5, `channel ${ch}: max |diff| ${diff.toExponential(2)}`);
  });
});

t.test('an f16 KV cache: chunks concatenate to generate() audio', async (t) => {
  // The step's attention reads the cache through the f16 kernels (runtime/cpu-attention.cpp) on every path.
  const f16Cache = await MusicGen.load(monoFile, { backend: 'cpu', threads: 2, kvCache: 'f16' });
  try {
    t.equal(f16Cache.info.kvCache, 'f16');
    const reference = await f16Cache.generate('80s pop track', { frames: FRAMES, ...GREEDY });
    for (const chunkFrames of [1, 7]) {
      const chunks = await collect(f16Cache.stream('80s pop track', { frames: FRAMES, chunkFrames, ...GREEDY }));
      const diff = maxDiff(joined(t, chunks, 1)[0]!, reference.channels[0]!);
      t.ok(diff <= 1e-5, `chunkFrames ${chunkFrames}: max |diff| ${diff.toExponential(2)}`);
    }
    const f32 = await gen.generate('80s pop track', { frames: FRAMES, ...GREEDY });
    t.comment(`f16 vs f32 cache, greedy audio: max |diff| ${maxDiff(reference.channels[0]!, f32.channels[0]!)}`);
  } finally {
    f16Cache.dispose();
  }
});

t.test('first-chunk latency', async (t) => {
  for (const chunkFrames of [1, 25]) {
    const started = performance.now();
    const stream = gen.stream('80s pop track', { frames: 500, chunkFrames, ...GREEDY });
    const first = await stream.next();
    const ms = performance.now() - started;
    await stream.return();
    t.ok(!first.done);
    t.comment(`chunkFrames ${chunkFrames}: first chunk after ${ms.toFixed(1)} ms (${first.value?.frames} samples)`);
  }
});

t.test('AbortSignal mid-stream rejects with ERR_MUSICGEN_ABORTED', async (t) => {
  const controller = new AbortController();
  let seen = 0;
  await t.rejects(
    (async () => {
      for await (const _ of gen.stream('80s pop track', { frames: 500, chunkFrames: 5, signal: controller.signal })) {
        if (++seen === 2) controller.abort();
      }
    })(),
    { code: 'ERR_MUSICGEN_ABORTED' },
  );
  t.equal(seen, 2, 'no chunk after the abort');
  const already = new AbortController();
  already.abort();
  await t.rejects(collect(gen.stream('x', { frames: 10, signal: already.signal })), { code: 'ERR_MUSICGEN_ABORTED' });
});

t.test('dispose() mid-stream rejects with ERR_MUSICGEN_DISPOSED', async (t) => {
  const own = await MusicGen.load(monoFile, { backend: 'cpu', threads: 1 });
  const stream = own.stream('80s pop track', { frames: 500, chunkFrames: 5 });
  t.notOk((await stream.next()).done);
  const pending = stream.next();
  own.dispose();
  await t.rejects(pending, { code: 'ERR_MUSICGEN_DISPOSED' });
  t.same(await stream.next(), { value: undefined, done: true }, 'done afterwards');
  t.throws(() => own.stream('x'), { code: 'ERR_MUSICGEN_DISPOSED' });
});

t.test('a consumer that throws inside the loop only throws its own error', async (t) => {
  await t.rejects(
    (async () => {
      for await (const _ of gen.stream('80s pop track', { frames: 500, chunkFrames: 5 })) throw new Error('boom');
    })(),
    /boom/,
  );
  // 10 frames with the default chunks: a first chunk of 8 frames, then the last 2.
  t.equal((await collect(gen.stream('x', { frames: 10, ...GREEDY }))).length, 2, 'the model still streams');
});

t.test('the event loop stays responsive while streaming', async (t) => {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const chunks = await collect(gen.stream('80s pop track', { frames: 150, chunkFrames: 1 }));
  histogram.disable();
  const p99 = histogram.percentile(99) / 1e6;
  t.comment(
    `${chunks.length} chunks; event-loop delay p99 ${p99.toFixed(2)} ms, max ${(histogram.max / 1e6).toFixed(2)} ms`,
  );
  t.ok(p99 < 20, 'p99 < 20 ms');
});

t.test('adapters: Readable and web ReadableStream', async (t) => {
  const reference = await gen.generate('80s pop track', { frames: 20, ...GREEDY });
  const fromNode: AudioChunk[] = [];
  for await (const c of toReadable(gen.stream('80s pop track', { frames: 20, chunkFrames: 4, ...GREEDY }))) {
    fromNode.push(c as AudioChunk);
  }
  t.ok(maxDiff(joined(t, fromNode, 1)[0]!, reference.channels[0]!) <= 1e-5, 'Readable');
  const reader = toWebStream(gen.stream('80s pop track', { frames: 20, chunkFrames: 4, ...GREEDY })).getReader();
  const fromWeb: AudioChunk[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) fromWeb.push(r.value);
  t.ok(maxDiff(joined(t, fromWeb, 1)[0]!, reference.channels[0]!) <= 1e-5, 'web stream');
  const cancelled = toWebStream(gen.stream('80s pop track', { frames: 500, chunkFrames: 2 }));
  const cancelReader = cancelled.getReader();
  await cancelReader.read();
  await cancelReader.cancel();
});

t.test('200 streams aborted at random points keep rss and active handles flat', async (t) => {
  // Seeded so a failure reproduces: each run stops after 0-5 chunks, alternately by break and by AbortSignal.
  let state = 12345;
  const random = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31), state % n);
  const run = async (i: number) => {
    const stopAfter = random(6);
    const controller = new AbortController();
    let taken = 0;
    try {
      for await (const _ of gen.stream('80s pop track', { frames: 500, chunkFrames: 2, signal: controller.signal })) {
        if (taken++ < stopAfter) continue;
        if (i % 2 === 0) break;
        controller.abort();
      }
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_MUSICGEN_ABORTED') throw error;
    }
  };
  for (let i = 0; i < 6; i++) await run(i); // warm-up: allocator pools, graph caches
  const before = process.memoryUsage().rss;
  const handlesBefore = process.getActiveResourcesInfo().length;
  const curve: number[] = [];
  for (let i = 0; i < 200; i++) {
    await run(i);
    if (i % 50 === 49) curve.push(process.memoryUsage().rss / 2 ** 20);
  }
  const after = process.memoryUsage().rss;
  t.equal(process.getActiveResourcesInfo().length, handlesBefore, 'active handles unchanged');
  const growth = (after - before) / 2 ** 20;
  t.comment(
    `rss ${(before / 2 ** 20).toFixed(1)} MB, every 50 streams: ${curve.map((m) => m.toFixed(1)).join(', ')} MB`,
  );
  t.ok(growth < 64, `rss grows by less than 64 MB (${growth.toFixed(1)} MB)`);
});

t.test('break and abandoned streams let the process exit promptly', async (t) => {
  const lib = path.join(__dirname, '..', 'lib');
  const script = (body: string) => `
    const { MusicGen } = require(${JSON.stringify(lib)});
    (async () => {
      const gen = await MusicGen.load(${JSON.stringify(monoFile)}, { backend: 'cpu', threads: 1 });
      const started = Date.now();
      ${body}
      console.log(Date.now() - started);
    })();`;
  // 2000 frames take the tiny model far longer than the bound; exiting quickly means the job stopped.
  for (const [name, body] of [
    ['break', `for await (const _ of gen.stream('x', { frames: 2000, chunkFrames: 2 })) break;`],
    ['abandoned', `await gen.stream('x', { frames: 2000, chunkFrames: 2 }).next();`],
  ] as const) {
    const started = performance.now();
    await promisify(execFile)(process.execPath, ['-e', script(body)], { timeout: 30_000 });
    const ms = performance.now() - started;
    t.comment(`${name}: child exited after ${ms.toFixed(0)} ms`);
    t.ok(ms < 10_000, `${name}: no hang at exit`);
  }
});
