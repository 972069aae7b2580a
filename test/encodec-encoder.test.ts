// EnCodec encoding (SEANet encoder + RVQ encode) against HF goldens of the chord prompt: the encoder output,
// the codes, their quantizer decode and the decoded reconstruction; plus lengths that are not a multiple of the
// hop, inputs shorter than the reflect padding, and input validation. Parity is asserted on an f32 GGUF.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { encodeAudio } from '../lib/encode-audio';
import { native, type NativeModel } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { atol, eachBackend, type ParityBackend } from './helpers/backends';
import { maxAbsDiff, readNpy } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const golden = (name: string) => readNpy(path.join(fixtures, 'musicgen-tiny', 'goldens', `${name}.npy`));
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
// Embeddings are activations of order one to ten (LSUV init): README's 1e-4, relative to the largest magnitude,
// is ~100x the float32 noise of a second implementation yet far below what a wrong pad or stride moves (~0.1).
const relativeTolerance = (reference: ArrayLike<number>) => 1e-4 * Math.max(1, maxAbs(reference));
// README "Measured float32 noise": waveforms are within ~1e-6 of float64; 1e-4 is the realistic bound.
const AUDIO_ATOL = 1e-4;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-encoder-'));
let mono: NativeModel;
t.before(async () => {
  const file = path.join(tmp, 'musicgen-tiny-f32.gguf');
  await convertCheckpoint(path.join(fixtures, 'musicgen-tiny'), file, { type: 'f32' });
  mono = await native().loadModel(file, { backend: 'cpu', threads: 2 });
});
// The model on the other parity backends, loaded on first use.
const onBackend: Partial<Record<ParityBackend, NativeModel>> = {};
async function modelOn(backend: ParityBackend): Promise<NativeModel> {
  if (backend === 'cpu') return mono;
  onBackend[backend] ??= await native().loadModel(path.join(tmp, 'musicgen-tiny-f32.gguf'), { backend, threads: 2 });
  return onBackend[backend];
}
t.teardown(() => {
  mono?.dispose();
  for (const m of Object.values(onBackend)) m.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const chord = () => Float32Array.from(golden('prompt_audio_0').data as number[]);

eachBackend(t, 'chord: encoder output, codes, quantized and reconstruction match HF', async (t, backend) => {
  const model = await modelOn(backend);
  const out = await native().encodeAudio(model, chord());
  const embRef = golden('encodec_chord_encoder_out');
  const [, hidden, frames] = embRef.shape as [number, number, number];
  t.same([out.frames, out.embeddings.length], [frames, hidden * frames], '[hidden, frames] encoder output');
  const embErr = maxAbsDiff(out.embeddings, embRef.data as number[]);
  const embTol = relativeTolerance(embRef.data as number[]);
  t.ok(embErr <= embTol, `encoder_out max abs err ${embErr.toExponential(2)} <= ${embTol.toExponential(2)}`);

  // Exact: every RVQ decision of this golden has a distance gap >= 150x float32 rounding
  // (docs/reference-notes.md §10.3).
  const codesRef = golden('encodec_chord_codes');
  t.equal(out.codebooks, codesRef.shape[1], 'one row per quantizer the LM uses');
  t.same(Array.from(out.codes), codesRef.data, 'codes identical');

  const decoded = await nativeDiagnostics().decodeCodes(model, out.codes, out.codebooks, out.frames, [-1]);
  const quantRef = golden('encodec_chord_quantized');
  const quantErr = maxAbsDiff(decoded.stages[0]!.data, quantRef.data as number[]);
  t.ok(quantErr <= relativeTolerance(quantRef.data as number[]), `quantized max abs err ${quantErr.toExponential(2)}`);

  const recRef = golden('encodec_chord_reconstruction');
  t.equal(decoded.audio.length, recRef.data.length, 'frames * hop samples');
  const recErr = maxAbsDiff(decoded.audio, recRef.data as number[]);
  // The decoder runs on the backend's device (the encoder stays on the CPU on Vulkan: backend_set::encoder_on_cpu).
  t.ok(recErr <= atol(backend, AUDIO_ATOL, 'audio'), `reconstruction max abs err ${recErr.toExponential(2)}`);
});

eachBackend(t, 'frames = ceil(samples / hop), short inputs included', async (t, backend) => {
  const model = await modelOn(backend);
  const { hopLength } = model.info().hparams.codec;
  const pcm = chord();
  // hop + 1 needs a second (padded) frame; 5 samples are shorter than the first convolution's reflect padding.
  for (const n of [hopLength + 1, 5, 1]) {
    const out = await encodeAudio(model, pcm.slice(0, n));
    t.equal(out.frames, Math.ceil(n / hopLength), `${n} samples -> ${out.frames} frame(s)`);
    t.equal(out.data.length, out.codebooks * out.frames, 'codes [codebooks, frames]');
    // The same codes as the CPU's, short inputs included.
    if (backend !== 'cpu') t.same(out.data, (await encodeAudio(mono, pcm.slice(0, n))).data, "the CPU's codes");
  }
});

t.test('invalid input is a typed error', async (t) => {
  const invalidOption = { code: 'ERR_MUSICGEN_INVALID_OPTION' };
  await t.rejects(encodeAudio(mono, new Float32Array(0)), invalidOption, 'empty waveform');
  await t.rejects(encodeAudio(mono, Float32Array.of(0, NaN)), invalidOption, 'NaN sample');
  await t.rejects(encodeAudio(mono, [0, 1] as unknown as Float32Array), invalidOption, 'not a Float32Array');
  // The core checks on its own too (the addon is callable without the facade).
  await t.rejects(native().encodeAudio(mono, Float32Array.of(Infinity)), invalidOption, 'native: infinite sample');
  await t.rejects(native().encodeAudio(mono, new Float32Array(0)), invalidOption, 'native: empty waveform');
  t.throws(() => native().encodeAudio(mono, new Float64Array(4) as unknown as Float32Array), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
});
