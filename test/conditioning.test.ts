// melody / audioPrompt through the public MusicGen.generate(): the same HF goldens the native tests check,
// reached the way a user would (raw channels or WAV files), plus the conditioning errors.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { WaveFile } from 'wavefile';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen } from '../lib';
import { fixture, numberIn } from './helpers/fixture';
import { maxAbsDiff } from './helpers/npy';

const tiny = fixture('musicgen-tiny');
const melody = fixture('musicgen-melody-tiny');
const stereo = fixture('musicgen-stereo-tiny');
const GREEDY = { topK: 1, guidanceScale: 3 };
// Waveforms: float32 noise of the reference is ~1e-6 (fixtures README); 1e-4 leaves room for our own rounding.
const WAVE_ATOL = 1e-4;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-cond-'));
const models: Record<string, MusicGen> = {};
t.before(async () => {
  for (const [key, f] of [
    ['tiny', tiny],
    ['melody', melody],
    ['stereo', stereo],
  ] as const) {
    const file = path.join(tmp, `${key}.gguf`);
    await convertCheckpoint(f.dir, file, { type: 'f32' });
    models[key] = await MusicGen.load(file, { backend: 'cpu', threads: 2 });
  }
});
t.teardown(() => {
  for (const m of Object.values(models)) m.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// New frames of a greedy golden: HF's max_new_tokens minus the delay stagger (groups - 1).
const newFrames = (description: string, groups: number) => numberIn(description, /max_new_tokens=(\d+)/) - groups + 1;
const flat = (results: Array<{ codes: { data: Int32Array } }>) => results.flatMap((r) => Array.from(r.codes.data));

t.test('melody: per-prompt melodies (batch-padded like HF) reproduce the melody goldens', async (t) => {
  const audio = melody.golden('melody_32k_mono').data as Float32Array;
  const sr = 32000;
  const description = melody.describe('melody_greedy_cfg3_codes');
  const seconds = numberIn(description, /melody\[:(\d+(?:\.\d+)?) s\]/);
  const results = await models.melody!.generate(melody.prompts, {
    frames: newFrames(description, 4),
    ...GREEDY,
    melody: [
      { channels: [audio], sampleRate: sr },
      { channels: [audio.slice(0, seconds * sr)], sampleRate: sr },
    ],
  });
  t.same(flat(results), melody.golden('melody_greedy_cfg3_codes').data, 'codes identical');
  const want = melody.golden('melody_greedy_cfg3_audio');
  const n = want.shape[2]!;
  results.forEach((r, b) => {
    const err = maxAbsDiff(r.channels[0]!, (want.data as Float32Array).subarray(b * n, (b + 1) * n));
    t.ok(err <= WAVE_ATOL, `waveform ${b}: ${err.toExponential(2)}`);
  });
});

t.test('melody from a WAV file equals the same melody given as channels', async (t) => {
  const wav = path.join(melody.dir, 'goldens', 'melody_32k_mono.wav');
  const audio = melody.golden('melody_32k_mono').data as Float32Array;
  const options = { frames: 6, ...GREEDY };
  const fromFile = await models.melody!.generate('x', { ...options, melody: { path: wav } });
  const fromPcm = await models.melody!.generate('x', { ...options, melody: { channels: [audio], sampleRate: 32000 } });
  t.same(Array.from(fromFile.codes.data), Array.from(fromPcm.codes.data));
});

t.test('a melody model without melody is text-only; melody on a text model is refused', async (t) => {
  const description = melody.describe('textonly_greedy_cfg3_codes');
  const results = await models.melody!.generate(melody.prompts, { frames: newFrames(description, 4), ...GREEDY });
  t.same(flat(results), melody.golden('textonly_greedy_cfg3_codes').data);
  const tone = { channels: [new Float32Array(32000)], sampleRate: 32000 };
  await t.rejects(models.tiny!.generate('x', { frames: 2, melody: tone }), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: /MusicGen-Melody/,
  });
  await t.rejects(models.melody!.generate(['a', 'b'], { frames: 2, melody: [tone] }), /one entry per prompt/);
  const bad = new Float32Array(100).fill(Number.NaN);
  await t.rejects(
    models.melody!.generate('x', { frames: 2, melody: { channels: [bad], sampleRate: 32000 } }),
    /finite/,
  );
  await t.rejects(
    models.melody!.generate('x', { frames: 2, melody: { path: path.join(tmp, 'nope.wav') } }),
    /nope\.wav/,
  );
});

t.test('audioPrompt continues mono and stereo prompts exactly like HF', async (t) => {
  const p0 = tiny.golden('prompt_audio_0').data as Float32Array;
  const p1 = tiny.golden('prompt_audio_1').data as Float32Array;
  const sr = 32000;
  const mono = await models.tiny!.generate(tiny.prompts, {
    frames: newFrames(tiny.describe('prompted_greedy_cfg3_codes'), 4),
    ...GREEDY,
    audioPrompt: [
      { channels: [p0], sampleRate: sr },
      { channels: [p1], sampleRate: sr },
    ],
  });
  t.same(flat(mono), tiny.golden('prompted_greedy_cfg3_codes').data, 'mono codes (prompt + continuation)');
  const monoAudio = tiny.golden('prompted_greedy_cfg3_audio');
  const n = monoAudio.shape[2]!;
  mono.forEach((r, b) => {
    const err = maxAbsDiff(r.channels[0]!, (monoAudio.data as Float32Array).subarray(b * n, (b + 1) * n));
    t.ok(err <= WAVE_ATOL, `mono waveform ${b}: ${err.toExponential(2)}`);
  });
  const st = await models.stereo!.generate(stereo.prompts, {
    frames: newFrames(stereo.describe('prompted_greedy_cfg3_codes'), 4),
    ...GREEDY,
    audioPrompt: [
      { channels: [p0, p1], sampleRate: sr },
      { channels: [p1, p0], sampleRate: sr },
    ],
  });
  t.same(flat(st), stereo.golden('prompted_greedy_cfg3_codes').data, 'stereo codes');
});

t.test('audioPrompt at another rate is resampled; bad prompts are refused', async (t) => {
  const prompt = { channels: [new Float32Array(44100).map((_, i) => 0.3 * Math.sin(i / 20))], sampleRate: 44100 };
  const r = await models.tiny!.generate('x', { frames: 5, ...GREEDY, audioPrompt: prompt });
  t.equal(r.codes.frames, 50 + 5, '1 s of prompt = 50 frames, then the new ones');
  const three = { channels: [new Float32Array(800), new Float32Array(800), new Float32Array(800)], sampleRate: 32000 };
  await t.rejects(models.stereo!.generate('x', { frames: 2, audioPrompt: three }), /1 or 2 channels/);
  await t.rejects(models.tiny!.generate('x', { frames: 2, audioPrompt: { channels: [], sampleRate: 32000 } }), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
  });
});

t.test('stream() takes melody and audioPrompt too, chunks equal to generate()', async (t) => {
  const audio = melody.golden('melody_32k_mono').data as Float32Array;
  const options = { frames: 12, ...GREEDY, melody: { channels: [audio], sampleRate: 32000 } };
  const whole = await models.melody!.generate('x', options);
  const chunks: Float32Array[] = [];
  for await (const chunk of models.melody!.stream('x', { ...options, chunkFrames: 5 })) chunks.push(chunk.channels[0]!);
  const joined = Float32Array.from(chunks.flatMap((c) => Array.from(c)));
  t.equal(maxAbsDiff(joined, whole.channels[0]!), 0, 'melody stream = melody generate');

  const p0 = tiny.golden('prompt_audio_0').data as Float32Array;
  const prompted = { frames: 6, ...GREEDY, audioPrompt: { channels: [p0], sampleRate: 32000 } };
  const wholePrompted = await models.tiny!.generate('x', prompted);
  const parts: Float32Array[] = [];
  for await (const chunk of models.tiny!.stream('x', { ...prompted, chunkFrames: 20 })) parts.push(chunk.channels[0]!);
  const joinedPrompted = Float32Array.from(parts.flatMap((c) => Array.from(c)));
  t.equal(maxAbsDiff(joinedPrompted, wholePrompted.channels[0]!), 0, 'prompted stream = prompted generate');

  const tone = { channels: [new Float32Array(3200)], sampleRate: 32000 };
  const stream = models.tiny!.stream('x', { frames: 2, melody: tone });
  await t.rejects(stream.next(), { code: 'ERR_MUSICGEN_INVALID_OPTION', message: /MusicGen-Melody/ });
});

t.test('CLI: --audio-prompt and --melody take WAV files', async (t) => {
  const cli = path.join(__dirname, '..', 'lib', 'cli.js');
  const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, ...args]);
  const out = path.join(tmp, 'continued.wav');
  await run([
    'x',
    '-m',
    path.join(tmp, 'tiny.gguf'),
    '-o',
    out,
    '-d',
    '0.5',
    '--audio-prompt',
    path.join(tiny.dir, 'goldens', 'prompt_audio_0.wav'),
  ]);
  const samples = (file: string) =>
    (new WaveFile(fs.readFileSync(file)).getSamples(false, Float64Array) as unknown as Float64Array).length;
  t.equal(samples(out), 32000 + 16000, '1 s prompt + 0.5 s continuation');
  const melodyOut = path.join(tmp, 'melody.wav');
  await run([
    'x',
    '-m',
    path.join(tmp, 'melody.gguf'),
    '-o',
    melodyOut,
    '-d',
    '0.5',
    '--melody',
    path.join(melody.dir, 'goldens', 'melody_32k_mono.wav'),
  ]);
  t.equal(samples(melodyOut), 16000);
  const failure = await run([
    'x',
    '-m',
    path.join(tmp, 'tiny.gguf'),
    '-o',
    melodyOut,
    '--melody',
    path.join(melody.dir, 'goldens', 'melody_32k_mono.wav'),
  ]).catch((e: { code: number; stderr: string }) => e);
  t.match(failure, { code: 1, stderr: /MusicGen-Melody/ });
});

t.test('input limits: melody rate and channels, over-long prompts', async (t) => {
  const mono = (rate: number) => ({ channels: [new Float32Array(rate)], sampleRate: rate });
  await t.rejects(models.melody!.generate('x', { frames: 2, melody: mono(7000) }), /between 8000 and 192000/);
  await t.rejects(models.melody!.generate('x', { frames: 2, melody: mono(200000) }), /between 8000 and 192000/);
  const nine = { channels: Array.from({ length: 9 }, () => new Float32Array(800)), sampleRate: 32000 };
  await t.rejects(models.melody!.generate('x', { frames: 2, melody: nine }), /1 to 8/);
  const ok = await models.melody!.generate('x', { frames: 2, melody: mono(8000) });
  t.equal(ok.codes.frames, 2, '8 kHz is resampled and accepted');
  await t.rejects(models.tiny!.generate('word '.repeat(5000), { frames: 2 }), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: /tokens/,
  });
});
