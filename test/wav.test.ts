import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WaveFile } from 'wavefile';
import { toWav, writeWav } from '../lib/wav';

const sine = (n: number, f: number) =>
  Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / 32000));

t.test('16-bit mono WAV round-trips within half a quantisation step', async (t) => {
  const samples = sine(3200, 440);
  const wav = new WaveFile(toWav({ sampleRate: 32000, channels: [samples] }));
  const fmt = wav.fmt as { numChannels: number; sampleRate: number; bitsPerSample: number };
  t.same([fmt.numChannels, fmt.sampleRate, fmt.bitsPerSample], [1, 32000, 16]);
  const back = wav.getSamples(false, Float64Array) as unknown as Float64Array;
  t.equal(back.length, samples.length);
  let worst = 0;
  for (let i = 0; i < samples.length; i++) worst = Math.max(worst, Math.abs(back[i]! / 32767 - samples[i]!));
  t.ok(worst <= 0.5 / 32767 + 1e-9, `max error ${worst}`);
});

t.test('32-bit float stereo WAV keeps samples exactly', async (t) => {
  const left = sine(1000, 220);
  const right = sine(1000, 330);
  const wav = new WaveFile(toWav({ sampleRate: 32000, channels: [left, right] }, { bitDepth: '32f' }));
  const [l, r] = wav.getSamples(false, Float32Array) as unknown as Float32Array[];
  t.same(Array.from(l!), Array.from(left));
  t.same(Array.from(r!), Array.from(right));
});

t.test('bad audio is refused with a message naming the field', async (t) => {
  t.throws(() => toWav({ sampleRate: 0, channels: [new Float32Array(4)] }), /audio.sampleRate/);
  t.throws(() => toWav({ sampleRate: 32000, channels: [] }), /audio.channels/);
  t.throws(() => toWav({ sampleRate: 32000, channels: [new Float32Array(4), new Float32Array(5)] }), /equal length/);
  t.throws(() => toWav({ sampleRate: 32000, channels: [new Float32Array(4)] }, { bitDepth: '8' as '16' }), /bitDepth/);
});

t.test('writeWav writes atomically and leaves no temp file behind', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-wav-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'out.wav');
  await writeWav(file, { sampleRate: 32000, channels: [sine(320, 440)] });
  t.same(fs.readdirSync(dir), ['out.wav']);
  t.equal(fs.statSync(file).size, 44 + 320 * 2);
  await t.rejects(writeWav(path.join(dir, 'missing-dir', 'x.wav'), { sampleRate: 32000, channels: [sine(8, 1)] }));
  t.same(fs.readdirSync(dir), ['out.wav']);
});
