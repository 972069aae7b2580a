// The public facade end to end: MusicGen.load -> generate (greedy, CFG 3) must give HF's codes and waveform;
// encodeText / decodeCodes are the same stages on their own; the CLI writes a WAV of the asked length.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { WaveFile } from 'wavefile';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen } from '../lib';
import { maxAbsDiff, readNpy } from './helpers/npy';

const root = path.join(__dirname, '..', '..');
const fixtureDir = path.join(root, 'test', 'fixtures', 'musicgen-tiny');
const golden = (name: string) => readNpy(path.join(fixtureDir, 'goldens', `${name}.npy`));
const prompts = (
  JSON.parse(fs.readFileSync(path.join(fixtureDir, 'manifest.json'), 'utf8')) as { notes: { prompts: string[] } }
).notes.prompts;
// Waveforms: the fixtures' float32-vs-float64 noise is ~1e-6 (README); 1e-4 leaves room for a second float32
// implementation's own rounding.
const WAVE_ATOL = 1e-4;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-facade-'));
const modelFile = path.join(tmp, 'tiny-f32.gguf');
let gen: MusicGen;
t.before(async () => {
  await convertCheckpoint(fixtureDir, modelFile, { type: 'f32' });
  gen = await MusicGen.load(modelFile, { backend: 'cpu', threads: 2 });
});
t.teardown(() => {
  gen.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

t.test('generate() reproduces the greedy CFG-3 goldens through the public API', async (t) => {
  const codes = golden('greedy_cfg3_codes');
  const audio = golden('greedy_cfg3_audio');
  const [B, K, frames] = codes.shape as [number, number, number];
  const results = await gen.generate(prompts, { frames, topK: 1, guidanceScale: 3 });
  t.equal(results.length, B);
  for (let b = 0; b < B; b++) {
    const r = results[b]!;
    t.equal(r.sampleRate, 32000);
    t.same([r.codes.codebooks, r.codes.frames], [K, frames]);
    t.same(
      Array.from(r.codes.data),
      (codes.data as number[]).slice(b * K * frames, (b + 1) * K * frames),
      `codes ${b}`,
    );
    const samples = audio.shape[2]!;
    const want = (audio.data as Float32Array).subarray(b * samples, (b + 1) * samples);
    t.equal(r.channels.length, 1);
    const err = maxAbsDiff(r.channels[0]!, want);
    t.ok(err <= WAVE_ATOL, `waveform ${b}: max abs diff ${err.toExponential(2)} <= ${WAVE_ATOL}`);
  }
});

t.test('a single prompt gives a single result; the same seed gives the same audio', async (t) => {
  const a = await gen.generate('warm piano', { frames: 8, seed: 42 });
  const b = await gen.generate('warm piano', { frames: 8, seed: 42 });
  t.notOk(Array.isArray(a));
  t.equal(a.seed, 42);
  t.same(Array.from(a.codes.data), Array.from(b.codes.data));
  t.equal(a.channels[0]!.length, (8 * gen.info.sampleRate) / gen.info.frameRate);
  t.equal(maxAbsDiff(a.channels[0]!, b.channels[0]!), 0);
});

t.test('duration is converted to frames at the model frame rate', async (t) => {
  const r = await gen.generate('x', { duration: 0.5, topK: 1 });
  t.equal(r.codes.frames, Math.round(0.5 * gen.info.frameRate));
  await t.rejects(gen.generate('x', { duration: -1 }), { code: 'ERR_MUSICGEN_INVALID_OPTION', message: /duration/ });
  await t.rejects(gen.generate('x', { frames: 4, topK: -1 }), { code: 'ERR_MUSICGEN_INVALID_OPTION', message: /topK/ });
  await t.rejects(gen.generate('x', { frames: 4, temperature: 0 }), { message: /temperature/ });
});

t.test('encodeText and decodeCodes expose the stages with the same numbers', async (t) => {
  const encoded = await gen.encodeText(prompts);
  const want = golden('enc_to_dec_proj_masked');
  t.ok(maxAbsDiff(encoded.states, want.data as Float32Array) <= 1e-4, 'projected states within 1e-4');
  const codes = golden('encodec_random_codes');
  const [, K, frames] = codes.shape as [number, number, number];
  const decoded = await gen.decodeCodes({ data: Int32Array.from(codes.data as number[]), codebooks: K, frames });
  const err = maxAbsDiff(decoded.channels[0]!, golden('encodec_random_codes_audio').data as Float32Array);
  t.ok(err <= WAVE_ATOL, `decode max abs diff ${err.toExponential(2)}`);
});

t.test('a disposed model refuses work with ERR_MUSICGEN_DISPOSED', async (t) => {
  const other = await MusicGen.load(modelFile, { backend: 'cpu', threads: 1 });
  other.dispose();
  await t.rejects(other.generate('x', { frames: 2 }), { code: 'ERR_MUSICGEN_DISPOSED' });
  t.throws(() => other.tokenize('x'), { code: 'ERR_MUSICGEN_DISPOSED' });
});

t.test('the musicgen CLI writes a WAV of the requested length', async (t) => {
  const out = path.join(tmp, 'cli.wav');
  const cli = path.join(root, 'dist', 'lib', 'cli.js');
  await promisify(execFile)(process.execPath, [cli, 'lofi beat', '-m', modelFile, '-o', out, '-d', '1', '--seed', '1']);
  const wav = new WaveFile(fs.readFileSync(out));
  const fmt = wav.fmt as { numChannels: number; sampleRate: number; bitsPerSample: number };
  t.same([fmt.numChannels, fmt.sampleRate, fmt.bitsPerSample], [1, 32000, 16]);
  t.equal((wav.getSamples(false, Float64Array) as unknown as Float64Array).length, 32000, '1 s of samples');
  const failure = await promisify(execFile)(process.execPath, [cli, 'x', '-m', path.join(tmp, 'missing.gguf')]).catch(
    (e: { code: number; stderr: string }) => e,
  );
  t.equal((failure as { code: number }).code, 1);
  t.match((failure as { stderr: string }).stderr, /missing\.gguf.*ERR_MUSICGEN_MODEL_NOT_FOUND/s);
  t.notOk(fs.existsSync(path.join(process.cwd(), 'out.wav')), 'no stray default output');
});

t.test('musicgen --stream writes the same audio incrementally', async (t) => {
  const cli = path.join(root, 'dist', 'lib', 'cli.js');
  const oneShot = path.join(tmp, 'one-shot.wav');
  const streamed = path.join(tmp, 'streamed.wav');
  const args = ['lofi beat', '-m', modelFile, '-d', '1', '--seed', '3', '--bit-depth', '32f'];
  await promisify(execFile)(process.execPath, [cli, ...args, '-o', oneShot]);
  await promisify(execFile)(process.execPath, [cli, ...args, '-o', streamed, '--stream']);
  const samples = (file: string) =>
    new WaveFile(fs.readFileSync(file)).getSamples(false, Float32Array) as unknown as Float32Array;
  const a = samples(oneShot);
  t.equal(a.length, 32000);
  // Streaming decodes the same codes exactly (test/stream.test.ts); 32-bit float WAVs keep every sample.
  t.equal(maxAbsDiff(samples(streamed), a), 0);
});
