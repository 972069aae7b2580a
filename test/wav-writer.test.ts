import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WaveFile } from 'wavefile';
import { WavFileWriter } from '../lib/wav-writer';

t.test('the file is a valid WAV after every chunk, not only after close()', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-wavw-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'out.wav');
  const writer = new WavFileWriter(file, 32000, 2, '16');
  const left = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i / 5) * 0.5);
  const right = Float32Array.from({ length: 100 }, (_, i) => Math.cos(i / 5) * 0.5);
  for (let chunk = 1; chunk <= 3; chunk++) {
    writer.write([left, right]);
    // Read while still open, as a player would after an interruption.
    const wav = new WaveFile(fs.readFileSync(file));
    const [l, r] = wav.getSamples(false, Float64Array) as unknown as Float64Array[];
    t.equal(l!.length, 100 * chunk, `chunk ${chunk}: ${100 * chunk} frames readable`);
    t.equal(r![chunk * 100 - 1], Math.round(right[99]! * 32767));
  }
  writer.close();
  t.throws(() => writer.write([left, right]), /after close/);
});

t.test('bad chunks and options are refused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-wavw-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  t.throws(() => new WavFileWriter(path.join(dir, 'a.wav'), 0, 1), /sampleRate/);
  t.throws(() => new WavFileWriter(path.join(dir, 'b.wav'), 32000, 9), /channels/);
  const writer = new WavFileWriter(path.join(dir, 'c.wav'), 32000, 1, '32f');
  t.throws(() => writer.write([new Float32Array(4), new Float32Array(4)]), /channels/);
  writer.close();
});
