// The EnCodec decoder on shapes the fixtures do not have, from random checkpoints of our own tooling: odd channel
// counts (every convolution's channels end in a partial vector of the direct kernels) and two residual layers per
// level (the second one dilated, whose columns the direct convolution gathers). With the AVX2 / AVX-512 kernel sets
// the decoder convolves directly from its input frames; with the scalar set (in a child process) it multiplies
// gathered columns with ggml's products, the path every other backend's graph follows: the two agree within float32
// summation error, the stream equals the one-shot decode (bit for bit when direct), and the memory estimate covers
// what each path allocates.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { streamDecodeBytes, wholeDecodeBytes } from '../lib/memory-budget';
import { native } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { runtimeInfo } from '../lib/runtime';
import { resolveSpec } from '../tools/presets';
import { writeRandomCheckpoint } from '../tools/random-checkpoint';

const root = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'encodec-shapes-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

// Decodes `codes` from `gguf` with the scalar kernel set in a child process; returns the waveform.
function decodeWithColumns(gguf: string, codes: Int32Array, codebooks: number, frames: number): Float32Array {
  const codesFile = path.join(tmp, 'codes.bin');
  const audioFile = path.join(tmp, 'audio.bin');
  fs.writeFileSync(codesFile, codes);
  const script = `
    const fs = require('node:fs');
    const { native } = require(${JSON.stringify(path.join(root, 'dist', 'lib', 'native.js'))});
    const { nativeDiagnostics } = require(${JSON.stringify(path.join(root, 'dist', 'lib', 'native-diagnostics.js'))});
    (async () => {
      const model = await native().loadModel(${JSON.stringify(gguf)}, { backend: 'cpu', threads: 2 });
      if (model.info().codecConvolutions !== 'columns') throw new Error('expected gathered columns');
      const bytes = fs.readFileSync(${JSON.stringify(codesFile)});
      const codes = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const audio = await nativeDiagnostics().decodeCodes(model, codes, ${codebooks}, ${frames});
      fs.writeFileSync(${JSON.stringify(audioFile)}, audio);
      model.dispose();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, MUSICGEN_CPU_KERNELS: 'scalar' },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`scalar decode failed: ${child.stderr}`);
  const bytes = fs.readFileSync(audioFile);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

const shapes: Array<[string, string[]]> = [
  ['5 filters, 2 residual layers', ['audio_encoder.num_filters=5', 'audio_encoder.num_residual_layers=2']],
  ['3 filters, hidden 12', ['audio_encoder.num_filters=3', 'audio_encoder.hidden_size=12']],
];

for (const [name, overrides] of shapes) {
  t.test(`decoder with ${name}`, async (t) => {
    const dir = path.join(tmp, name.replace(/\W+/g, '-'));
    writeRandomCheckpoint({ dir, spec: resolveSpec('tiny', overrides), dtype: 'f32', seed: 11, maxShardBytes: 5e9 });
    const gguf = `${dir}.gguf`;
    await convertCheckpoint(dir, gguf, { type: 'f32' });
    const model = await native().loadModel(gguf, { backend: 'cpu', threads: 2 });
    t.teardown(() => model.dispose());
    const info = model.info();
    const codec = info.hparams.codec;
    const direct = info.codecConvolutions === 'direct';
    t.equal(direct, ['avx2', 'avx512'].includes(runtimeInfo().cpuKernels), `convolutions: ${info.codecConvolutions}`);

    const codebooks = info.codebooks / info.channels;
    const frames = 60;
    let state = 5;
    const codes = Int32Array.from({ length: codebooks * frames }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state % codec.codebookSize;
    });
    const diagnostics = nativeDiagnostics();
    const whole = await diagnostics.decodeCodes(model, codes, codebooks, frames, []);
    t.equal(whole.audio.length, frames * codec.hopLength);
    t.ok(maxAbs(whole.audio) > 0, 'a waveform that is not silent');

    // Each output's sum runs in another order on the two paths (a chain of multiply-adds per output against ggml's
    // blocked products): float32 rounding, a few ulps per stage (measured 0.7-4.3e-6 here), held to the waveform
    // tolerance both paths meet against HF (encodec.test.ts, AUDIO_ATOL).
    const columns = decodeWithColumns(gguf, codes, codebooks, frames);
    const diff = maxAbsDiff(whole.audio, columns);
    t.ok(
      diff <= 1e-4 * Math.max(1, maxAbs(columns)),
      `against gathered columns: max abs diff ${diff.toExponential(2)}`,
    );

    for (const chunkFrames of [1, 7, 25]) {
      const streamed = await diagnostics.decodeCodesStreaming(model, codes, codebooks, frames, chunkFrames);
      const joined = new Float32Array(streamed.chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const chunk of streamed.chunks) {
        joined.set(chunk, at);
        at += chunk.length;
      }
      if (direct) {
        // Every output a chain of multiply-adds over its own frames, wherever a window cuts the signal.
        t.same(joined, whole.audio, `chunks of ${chunkFrames}: the one-shot waveform bit for bit`);
      } else {
        // ggml's products sum a window's few columns in another order (encodec-stream.test.ts, STREAM_ATOL).
        const streamDiff = maxAbsDiff(joined, whole.audio);
        t.ok(streamDiff <= 1e-5, `chunks of ${chunkFrames}: max abs diff ${streamDiff.toExponential(2)}`);
      }
      const estimate = streamDecodeBytes(codec, frames, chunkFrames, direct);
      t.ok(
        estimate >= streamed.computeBytes && estimate <= 1.25 * streamed.computeBytes,
        `chunks of ${chunkFrames}: memory estimate ${estimate} for ${streamed.computeBytes} bytes`,
      );
    }
    const estimate = wholeDecodeBytes(codec, frames, true, direct);
    t.ok(
      estimate >= whole.computeBytes && estimate <= 1.25 * whole.computeBytes,
      `one-shot: memory estimate ${estimate} for ${whole.computeBytes} bytes`,
    );
  });
}
