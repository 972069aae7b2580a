// Music longer than the window: each extension must be exactly "continue from the last (window - stride)
// codes", and the first window exactly a plain generation. Checked with a small window on the tiny model.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen } from '../lib';
import { generateCodes } from '../lib/generation-job';
import { native, type NativeModel } from '../lib/native';
import { fixture } from './helpers/fixture';
import { maxAbsDiff } from './helpers/npy';

const tiny = fixture('musicgen-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-long-'));
const file = path.join(tmp, 'tiny.gguf');
let gen: MusicGen;
let handle: NativeModel;
t.before(async () => {
  await convertCheckpoint(tiny.dir, file, { type: 'f32' });
  gen = await MusicGen.load(file, { backend: 'cpu', threads: 2 });
  handle = await native().loadModel(file, { backend: 'cpu', threads: 2 });
});
t.teardown(() => {
  gen.dispose();
  handle.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Codes of frames [from, to) of a [K, frames] matrix.
const slice = (data: Int32Array, K: number, frames: number, from: number, to: number) =>
  Array.from({ length: K }, (_, k) => Array.from(data.subarray(k * frames + from, k * frames + to)));

t.test('windows chain by carrying the last (window - stride) frames as the prompt', async (t) => {
  const K = gen.info.codebooks;
  const steps: number[] = [];
  const options = { topK: 1, seed: 5, longForm: { window: 1, stride: 0.6 } }; // 50-frame windows, 30 new each
  const long = await gen.generate('lofi beat', { ...options, duration: 2, onProgress: (p) => steps.push(p.step) });
  t.equal(long.codes.frames, 100);
  t.equal(long.channels[0]!.length, 100 * 640, 'one decode of all frames');
  t.same(
    steps,
    Array.from({ length: steps.length }, (_, i) => i + 1),
    'progress counts across windows',
  );

  const first = await gen.generate('lofi beat', { topK: 1, seed: 5, frames: 50 });
  t.same(slice(long.codes.data, K, 100, 0, 50), slice(first.codes.data, K, 50, 0, 50), 'first window = plain run');
  // Second window: prompt = frames 30..49, 30 new frames.
  const context = Int32Array.from(slice(long.codes.data, K, 100, 30, 50).flat());
  const [second] = await generateCodes(
    handle,
    'lofi beat',
    { topK: 1, seed: 6, frames: 30 },
    { data: context, frames: 20 },
  );
  t.same(slice(long.codes.data, K, 100, 50, 80), slice(second!.data, K, 50, 20, 50), 'second window continues');
});

t.test('long-form limits and unsupported combinations are clear errors', async (t) => {
  await t.rejects(gen.generate('x', { duration: 4000 }), { code: 'ERR_MUSICGEN_INVALID_OPTION', message: /duration/ });
  await t.rejects(gen.generate('x', { duration: 2, longForm: { window: 1, stride: 1 } }), /longForm.stride/);
  await t.rejects(gen.generate('x', { duration: 2, longForm: { window: 1000 } }), /longForm.window/);
});

t.test(
  'long-form melody: the first window is the plain melody run; later windows follow the looped melody',
  async (t) => {
    const melodyFixture = fixture('musicgen-melody-tiny');
    const file = path.join(tmp, 'melody.gguf');
    await convertCheckpoint(melodyFixture.dir, file, { type: 'f32' });
    const melodyGen = await MusicGen.load(file, { backend: 'cpu', threads: 2 });
    t.teardown(() => melodyGen.dispose());
    const audio = melodyFixture.golden('melody_32k_mono').data as Float32Array;
    const melody = { channels: [audio], sampleRate: 32000 };
    const K = melodyGen.info.codebooks;
    const long = await melodyGen.generate('x', {
      topK: 1,
      seed: 1,
      duration: 2,
      melody,
      longForm: { window: 1, stride: 0.6 },
    });
    t.equal(long.codes.frames, 100);
    const plain = await melodyGen.generate('x', { topK: 1, seed: 1, frames: 50, melody });
    t.same(slice(long.codes.data, K, 100, 0, 50), slice(plain.codes.data, K, 50, 0, 50));
    const streamed: Float32Array[] = [];
    const streamOptions = {
      topK: 1,
      seed: 1,
      duration: 2,
      melody,
      longForm: { window: 1, stride: 0.6 },
      chunkFrames: 9,
    };
    for await (const chunk of melodyGen.stream('x', streamOptions)) streamed.push(chunk.channels[0]!);
    const joined = Float32Array.from(streamed.flatMap((p) => Array.from(p)));
    t.equal(maxAbsDiff(joined, long.channels[0]!), 0, 'the melody stream follows the same windows');
    // Without the melody the later windows differ (the chroma really conditions them).
    const textOnly = await melodyGen.generate('x', {
      topK: 1,
      seed: 1,
      duration: 2,
      longForm: { window: 1, stride: 0.6 },
    });
    t.notSame(slice(long.codes.data, K, 100, 50, 100), slice(textOnly.codes.data, K, 100, 50, 100));
  },
);

t.test('stream() beyond the window equals generate() beyond the window, seamlessly', async (t) => {
  const options = { topK: 1, seed: 9, duration: 2, longForm: { window: 1, stride: 0.6 } };
  const whole = await gen.generate('lofi beat', options);
  const parts: Float32Array[] = [];
  for await (const chunk of gen.stream('lofi beat', { ...options, chunkFrames: 7 })) parts.push(chunk.channels[0]!);
  const joined = Float32Array.from(parts.flatMap((p) => Array.from(p)));
  t.equal(joined.length, whole.channels[0]!.length);
  t.equal(maxAbsDiff(joined, whole.channels[0]!), 0, 'identical samples across window boundaries');

  const prompt = { channels: [tiny.golden('prompt_audio_0').data as Float32Array], sampleRate: 32000 };
  const prompted = { topK: 1, seed: 2, duration: 1.2, audioPrompt: prompt, longForm: { window: 1.4, stride: 0.6 } };
  const wholePrompted = await gen.generate('x', prompted);
  t.equal(wholePrompted.codes.frames, 50 + 60, 'prompt + 1.2 s');
  const promptedParts: Float32Array[] = [];
  for await (const chunk of gen.stream('x', { ...prompted, chunkFrames: 11 })) promptedParts.push(chunk.channels[0]!);
  const joinedPrompted = Float32Array.from(promptedParts.flatMap((p) => Array.from(p)));
  t.equal(maxAbsDiff(joinedPrompted, wholePrompted.channels[0]!), 0, 'with an audio prompt too');
});
