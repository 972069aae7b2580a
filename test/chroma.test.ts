// Chroma front end of MusicGen-Melody (native/src/melody/chroma.cpp, lib/melody.ts, lib/resample.ts) against the
// melody fixture's goldens; no model needed: the parameters come from the fixture's preprocessor_config.json.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WaveFile } from 'wavefile';
import { melodyToChroma } from '../lib/melody';
import { native, type NativeHparams, type NativeMelodyParams } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { maxAbsDiff, readNpy } from './helpers/npy';

const fixture = path.join(__dirname, '..', '..', 'test', 'fixtures', 'musicgen-melody-tiny');
const golden = (name: string) => readNpy(path.join(fixture, 'goldens', name));
const config = JSON.parse(fs.readFileSync(path.join(fixture, 'preprocessor_config.json'), 'utf8'));
const params: NativeMelodyParams = {
  sampleRate: config.sampling_rate,
  nFft: config.n_fft,
  hopLength: config.hop_length,
  numChroma: config.feature_size,
  chunkLength: config.chunk_length,
};
const info = {
  variant: 'melody' as const,
  sampleRate: params.sampleRate,
  hparams: {
    melody: {
      numChroma: params.numChroma,
      chromaLength: 235,
      nFft: params.nFft,
      hopLength: params.hopLength,
      chunkLength: params.chunkLength,
    },
  } as NativeHparams,
};
const melody = Float32Array.from(golden('melody_32k_mono.npy').data as ArrayLike<number>);

function argmaxRows(a: ArrayLike<number>, width: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < a.length / width; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (a[r * width + c]! > a[r * width + best]!) best = c;
    out.push(best);
  }
  return out;
}

t.test('chroma filter bank matches librosa/HF', async (t) => {
  const bank = nativeDiagnostics().chromaFilterBank(params);
  const ref = golden('chroma_filter_bank.npy');
  t.equal(bank.length, ref.data.length);
  const diff = maxAbsDiff(bank, ref.data as ArrayLike<number>);
  t.comment(`filter bank max |diff| ${diff.toExponential(2)}`);
  t.ok(diff <= 1e-6);
});

t.test('32 kHz mono: prequant within 1e-4, one-hot exact', async (t) => {
  const chroma = await native().chromaFeatures(melody, params);
  const pre = golden('chroma_32k_mono_prequant.npy');
  t.equal(chroma.frames, pre.shape[1]);
  const diff = maxAbsDiff(chroma.prequant, pre.data as ArrayLike<number>);
  t.comment(`prequant max |diff| ${diff.toExponential(2)}`);
  t.ok(diff <= 1e-4);
  t.same(Array.from(chroma.onehot), Array.from(golden('chroma_32k_mono.npy').data as ArrayLike<number>));
});

t.test('the WAV path gives the same one-hots', async (t) => {
  const chroma = await melodyToChroma(info, { path: path.join(fixture, 'goldens', 'melody_32k_mono.wav') });
  t.equal(chroma.numChroma, 12);
  t.same(Array.from(chroma.onehot), Array.from(golden('chroma_32k_mono.npy').data as ArrayLike<number>));
});

t.test('44.1 kHz stereo WAV: resampled and downmixed like torchaudio + HF', async (t) => {
  const start = performance.now();
  const chroma = await melodyToChroma(info, { path: path.join(fixture, 'goldens', 'melody_44k1_stereo.wav') });
  const ms = performance.now() - start;
  const ref = argmaxRows(golden('chroma_44k1_stereo.npy').data as ArrayLike<number>, 12);
  const ours = argmaxRows(chroma.onehot, 12);
  t.equal(ours.length, ref.length);
  const mismatched = ref.flatMap((c, i) => (c === ours[i] ? [] : [i]));
  t.comment(
    `44.1 kHz stereo: ${ref.length - mismatched.length}/${ref.length} frames equal (${ms.toFixed(0)} ms incl. decode + resample)`,
  );
  // The smallest top-1/top-2 gap on this path is 0.026 (fixtures README), far above float noise: all frames,
  // the fragile frame 58 included, must match.
  t.same(mismatched, []);
});

t.test('silence is all C; short clips are padded to one n_fft', async (t) => {
  const silent = await melodyToChroma(info, { channels: [new Float32Array(32000)], sampleRate: 32000 });
  t.equal(silent.frames, 1 + Math.floor(32000 / params.hopLength));
  t.same(argmaxRows(silent.onehot, 12), new Array(silent.frames).fill(0));
  const short = await native().chromaFeatures(new Float32Array(100), params);
  t.equal(short.frames, 1 + params.nFft / params.hopLength);
});

t.test('bad inputs are refused with clear errors', async (t) => {
  const code = { code: 'ERR_MUSICGEN_INVALID_OPTION' };
  const one = (n: number) => new Float32Array(n).fill(0.1);
  await t.rejects(melodyToChroma(info, { channels: [], sampleRate: 32000 }), { ...code, message: /melody.channels/ });
  await t.rejects(melodyToChroma(info, { channels: [new Float32Array(0)], sampleRate: 32000 }), {
    ...code,
    message: 'Expected a channel with samples for melody.channels[0] but received a Float32Array of length 0',
  });
  await t.rejects(
    melodyToChroma(info, { channels: Array.from({ length: 9 }, () => one(10)), sampleRate: 32000 }),
    code,
  );
  await t.rejects(melodyToChroma(info, { channels: [one(10), one(11)], sampleRate: 32000 }), {
    ...code,
    message:
      'Expected 10 samples, as many as channel 0 for melody.channels[1] but received a Float32Array of length 11',
  });
  const nan = one(10);
  nan[3] = NaN;
  await t.rejects(melodyToChroma(info, { channels: [nan], sampleRate: 32000 }), {
    ...code,
    message: /sample 3 is NaN/,
  });
  const inf = one(10);
  inf[5] = -Infinity;
  await t.rejects(
    melodyToChroma(info, { channels: [one(10), inf], sampleRate: 32000 }),
    /melody.channels\[1\] sample 5/,
  );
  await t.rejects(melodyToChroma(info, { channels: [one(10)], sampleRate: 7999 }), /melody.sampleRate/);
  await t.rejects(melodyToChroma(info, { channels: [one(10)], sampleRate: 192001 }), /melody.sampleRate/);
  await t.rejects(melodyToChroma(info, { path: '/nonexistent/melody.wav' }), /Cannot read melody file/);
  await t.rejects(
    melodyToChroma({ ...info, variant: 'text' }, { channels: [one(10)], sampleRate: 32000 }),
    /takes no melody/,
  );
  const mulaw = new WaveFile();
  mulaw.fromScratch(1, 8000, '8m', [0, 100, -100]);
  const file = path.join(t.testdir(), 'mulaw.wav');
  fs.writeFileSync(file, mulaw.toBuffer());
  await t.rejects(melodyToChroma(info, { path: file }), /unsupported WAV encoding \(format 7/);
  t.throws(() => native().chromaFeatures(one(10), { ...params, nFft: 1000 }), { ...code, message: /power of two/ });
  t.throws(() => nativeDiagnostics().chromaFilterBank({ ...params, numChroma: 0 }), code);
});

t.test('8-bit, 24-bit and float64 WAVs decode to the same scale', async (t) => {
  const dir = t.testdir();
  const sine = Float64Array.from({ length: 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));
  const results: number[][] = [];
  for (const [depth, samples] of [
    ['8', sine.map((x) => Math.round(x * 127) + 128)],
    ['24', sine.map((x) => Math.round(x * 8388607))],
    ['64', sine],
  ] as const) {
    const wav = new WaveFile();
    wav.fromScratch(1, 16000, depth, samples);
    const file = path.join(dir, `sine${depth}.wav`);
    fs.writeFileSync(file, wav.toBuffer());
    const chroma = await melodyToChroma(info, { path: file });
    results.push(argmaxRows(chroma.onehot, 12));
  }
  t.same(results[0], results[2]);
  t.same(results[1], results[2]);
  t.equal(results[2]![1], 9, 'A440 is class A (9)');
});

t.test('speed: 30 s of 32 kHz audio', async (t) => {
  const clip = new Float32Array(params.sampleRate * params.chunkLength);
  for (let i = 0; i < clip.length; i++) clip[i] = melody[i % melody.length]!;
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const start = performance.now();
    const chroma = await native().chromaFeatures(clip, params);
    best = Math.min(best, performance.now() - start);
    t.equal(chroma.frames, 235);
  }
  t.comment(`30 s chroma: ${best.toFixed(1)} ms (best of 3)`);
});
