// The streaming EnCodec decoder (native/src/codec/stream.h) against the one-shot decoder: for random codes of
// several lengths pushed in chunks of several sizes, the concatenated chunks must equal decodeCodes' waveform,
// every sample must come out as soon as the lookahead allows, and misuse must be refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { native, type NativeHparams, type NativeModel } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { atol, eachBackend, type ParityBackend } from './helpers/backends';
import { maxAbsDiff } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');

// Both decoders run the same ggml kernels over the same data; only where the graphs are cut differs (windows of
// a few frames instead of the whole sequence, LSTM chunks of other lengths), which can at most reorder float32
// sums in a matrix product. That stays orders of magnitude below 1e-5 on unit-scale activations, while any
// wrong context, reflection or overlap moves samples by ~1e-1. On a GPU backend whose products round to f16
// (Vulkan), the differently cut graphs round differently: its own tolerance applies (test/helpers/backends.ts).
const STREAM_ATOL = 1e-5;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-encodec-stream-'));
const models: Record<string, NativeModel> = {};
t.before(async () => {
  for (const fixture of ['musicgen-tiny', 'musicgen-stereo-tiny']) {
    const file = path.join(tmp, `${fixture}-f32.gguf`);
    await convertCheckpoint(path.join(fixtures, fixture), file, { type: 'f32' });
    models[fixture] = await native().loadModel(file, { backend: 'cpu', threads: 2 });
  }
});
// The models on the other parity backends, loaded on first use.
const onBackend: Record<string, NativeModel> = {};
async function modelOn(fixture: string, backend: ParityBackend): Promise<NativeModel> {
  if (backend === 'cpu') return models[fixture]!;
  const file = path.join(tmp, `${fixture}-f32.gguf`);
  onBackend[`${fixture}-${backend}`] ??= await native().loadModel(file, { backend, threads: 2 });
  return onBackend[`${fixture}-${backend}`]!;
}
t.teardown(() => {
  for (const m of [...Object.values(models), ...Object.values(onBackend)]) m.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Deterministic codes in [0, codebookSize): a small LCG keeps every run identical.
function randomCodes(codebooks: number, frames: number, codebookSize: number, seed: number) {
  let state = seed >>> 0;
  return Int32Array.from({ length: codebooks * frames }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % codebookSize;
  });
}

// Lookahead derived independently from the hyperparameters (docs/reference-notes.md §10.2): each stride-1 conv with
// effective kernel k_eff waits for floor((k_eff - 1) / 2) samples on its right, each ConvTranspose1d (kernel 2r,
// stride r) keeps its last r - floor(r / 2) outputs until the next frame's overlap arrives; the delays add up at
// the output rate and round up to whole frames.
function expectedLookahead(codec: NativeHparams['codec']) {
  const right = (kernel: number, dilation = 1) => Math.floor(((kernel - 1) * dilation) / 2);
  let delay = right(codec.kernelSize);
  for (const r of codec.upsamplingRatios) {
    delay = delay * r + (r - Math.floor(r / 2));
    for (let j = 0; j < codec.numResidualLayers; j++) {
      delay += right(codec.residualKernelSize, codec.dilationGrowthRate ** j);
    }
  }
  delay += right(codec.lastKernelSize);
  return { frames: Math.ceil(delay / codec.hopLength), samples: delay };
}

for (const fixture of ['musicgen-tiny', 'musicgen-stereo-tiny']) {
  eachBackend(t, `${fixture}: streamed chunks equal the one-shot decode`, async (t, backend) => {
    const model = await modelOn(fixture, backend);
    const codec = model.info().hparams.codec;
    const codebooks = codec.quantizerCount;
    const hop = codec.hopLength;
    const expected = expectedLookahead(codec);
    t.comment(
      `lookahead ${expected.frames} frames (${expected.samples} samples = ` +
        `${((1000 * expected.samples) / codec.sampleRate).toFixed(1)} ms)`,
    );
    // lavapipe runs each of the many small graphs of a 1-frame-chunk stream slowly (the full set took 305 s there):
    // other backends leave out the 123-frame clip, whose chunking repeats the 37-frame one's.
    for (const frames of backend === 'cpu' ? [1, 5, 37, 123] : [1, 5, 37]) {
      const codes = randomCodes(codebooks, frames, codec.codebookSize, frames * 7919 + codebooks);
      const oneShot = await nativeDiagnostics().decodeCodes(model, codes, codebooks, frames);
      for (const chunkFrames of [1, 3, 7, 50]) {
        const { chunks, lookaheadFrames } = await nativeDiagnostics().decodeCodesStreaming(
          model,
          codes,
          codebooks,
          frames,
          chunkFrames,
        );
        const label = `${frames} frames in chunks of ${chunkFrames}`;
        t.equal(lookaheadFrames, expected.frames, `${label}: lookahead from the stage list`);
        t.equal(chunks.length, Math.ceil(frames / chunkFrames) + 1, `${label}: one chunk per push, then finish`);

        // Each push returns exactly what its frames made final: at least everything older than the lookahead.
        let emitted = 0;
        let tight = false;
        chunks.slice(0, -1).forEach((chunk, i) => {
          const pushed = Math.min(frames, (i + 1) * chunkFrames);
          emitted += chunk.length;
          t.ok(
            emitted >= Math.max(0, (pushed - lookaheadFrames) * hop) && emitted <= pushed * hop,
            `${label}: ${emitted} samples final after ${pushed} frames`,
          );
          if (emitted < Math.max(0, (pushed - lookaheadFrames + 1) * hop)) tight = true;
        });
        if (chunkFrames === 1 && frames > lookaheadFrames) {
          t.ok(tight, `${label}: a shorter lookahead would have been wrong`);
        }

        const streamed = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const chunk of chunks) {
          streamed.set(chunk, offset);
          offset += chunk.length;
        }
        t.equal(streamed.length, oneShot.length, `${label}: frames * hop_length samples in all`);
        const diff = maxAbsDiff(streamed, oneShot);
        t.ok(diff <= atol(backend, STREAM_ATOL, 'audio'), `${label}: max abs diff ${diff.toExponential(2)}`);
      }
    }
  });
}

t.test('misuse is refused with typed errors', async (t) => {
  const model = models['musicgen-tiny'] as NativeModel;
  const codec = model.info().hparams.codec;
  const codebooks = codec.quantizerCount;
  const frames = 20;
  const codes = randomCodes(codebooks, frames, codec.codebookSize, 1);
  const INVALID = { code: 'ERR_MUSICGEN_INVALID_OPTION' };

  await t.rejects(nativeDiagnostics().decodeCodesStreaming(model, codes, codebooks, frames, 7, true), {
    ...INVALID,
    message: /finished/,
  });
  for (const bad of [codec.codebookSize, -1]) {
    const withBad = Int32Array.from(codes, (v, i) => (i === 16 ? bad : v));
    // Frame 16 is frame 2 of the third push of 7.
    await t.rejects(nativeDiagnostics().decodeCodesStreaming(model, withBad, codebooks, frames, 7), {
      ...INVALID,
      message: new RegExp(`code ${bad} at codebook 0, frame 2 `),
    });
  }
  const tooMany = codebooks + 1;
  await t.rejects(
    nativeDiagnostics().decodeCodesStreaming(
      model,
      randomCodes(tooMany, frames, codec.codebookSize, 2),
      tooMany,
      frames,
      3,
    ),
    { ...INVALID, message: /codebooks/ },
  );
});
