// EnCodec decoding (RVQ decode + SEANet decoder with LSTM) against HF goldens: the random-codes decode with its
// intermediate stages, the greedy runs' waveforms (mono and stereo), plus float64 JS references for what the
// goldens do not reach (inputs shorter than the reflect padding, sequences longer than one LSTM graph chunk)
// and the input validation. Parity is asserted on f32 GGUFs; f16 is reported only.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { decodeCodes } from '../lib/decode-codes';
import { native, type NativeModel } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { readGguf, tensorF32, type GgufFile } from './helpers/gguf-reader';
import { atol, eachBackend, type ParityBackend } from './helpers/backends';
import { maxAbsDiff, readNpy } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const golden = (model: string, name: string) => readNpy(path.join(fixtures, model, 'goldens', `${name}.npy`));
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

// README "Measured float32 noise": HF's float32 waveforms are within ~1e-6 of float64; a second float32
// implementation lands within a few times that, so 1e-4 (the README's realistic waveform tolerance) still
// catches any real error (a wrong pad or trim moves samples by ~0.1). Intermediate stages are unit-std
// activations (LSUV init), so the same bound is applied relative to each stage's largest magnitude.
const AUDIO_ATOL = 1e-4;
const STAGE_RTOL = 1e-4;
/** A stage's tolerance: STAGE_RTOL (or the backend's, test/helpers/backends.ts) times its largest magnitude. */
const stageTolerance = (reference: ArrayLike<number>, backend: ParityBackend = 'cpu') =>
  atol(backend, STAGE_RTOL, 'stages') * Math.max(1, maxAbs(reference));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-encodec-'));
let mono: NativeModel;
let monoF16: NativeModel;
let stereo: NativeModel;
let monoFile: GgufFile;
t.before(async () => {
  const load = async (fixture: string, type: 'f32' | 'f16') => {
    const file = path.join(tmp, `${fixture}-${type}.gguf`);
    await convertCheckpoint(path.join(fixtures, fixture), file, { type });
    return { file, model: await native().loadModel(file, { backend: 'cpu', threads: 2 }) };
  };
  const f32 = await load('musicgen-tiny', 'f32');
  mono = f32.model;
  monoFile = readGguf(f32.file);
  monoF16 = (await load('musicgen-tiny', 'f16')).model;
  stereo = (await load('musicgen-stereo-tiny', 'f32')).model;
});
// The f32 models on the other parity backends, loaded on first use.
const onBackend: Record<string, NativeModel> = {};
async function f32On(fixture: 'musicgen-tiny' | 'musicgen-stereo-tiny', backend: ParityBackend): Promise<NativeModel> {
  if (backend === 'cpu') return fixture === 'musicgen-tiny' ? mono : stereo;
  const file = path.join(tmp, `${fixture}-f32.gguf`);
  onBackend[`${fixture}-${backend}`] ??= await native().loadModel(file, { backend, threads: 2 });
  return onBackend[`${fixture}-${backend}`]!;
}
t.teardown(() => {
  for (const m of [mono, monoF16, stereo, ...Object.values(onBackend)]) m?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Golden [1, K, T] int64 codes as the native layout.
function codeMatrix(model: string, name: string, batch = 0) {
  const g = golden(model, name);
  const [, codebooks, frames] = g.shape as [number, number, number];
  const data = Int32Array.from(
    (g.data as number[]).slice(batch * codebooks * frames, (batch + 1) * codebooks * frames),
  );
  return { data, codebooks, frames };
}

// Decoder stage index (HF's decoder.layers.{i}; -1 = quantizer.decode) -> golden.
const STAGE_GOLDENS: Record<number, string> = {
  [-1]: 'encodec_random_codes_quantized',
  0: 'encodec_decoder_00_conv_in',
  1: 'encodec_decoder_01_lstm',
  3: 'encodec_decoder_03_up1_convtr',
  4: 'encodec_decoder_04_up1_resblock',
  7: 'encodec_decoder_07_up2_resblock',
  10: 'encodec_decoder_10_up3_resblock',
  13: 'encodec_decoder_13_up4_resblock',
};

eachBackend(t, 'random codes: every checked decoder stage and the waveform match HF', async (t, backend) => {
  const model = await f32On('musicgen-tiny', backend);
  const codes = codeMatrix('musicgen-tiny', 'encodec_random_codes');
  const stages = Object.keys(STAGE_GOLDENS).map(Number);
  const out = await nativeDiagnostics().decodeCodes(model, codes.data, codes.codebooks, codes.frames, stages);
  t.same(
    out.stages.map((s) => s.index),
    stages,
    'stages come back in the order asked for',
  );
  for (const stage of out.stages) {
    const ref = golden('musicgen-tiny', STAGE_GOLDENS[stage.index] as string);
    t.same([1, stage.channels, stage.length], ref.shape, `stage ${stage.index} shape`);
    const diff = maxAbsDiff(stage.data, ref.data as Float32Array);
    const scale = Math.max(1, maxAbs(ref.data as Float32Array));
    t.ok(
      diff <= stageTolerance(ref.data as Float32Array, backend),
      `stage ${stage.index} max abs diff ${diff.toExponential(2)} (${(diff / scale).toExponential(2)} of its scale)`,
    );
  }
  const audio = golden('musicgen-tiny', 'encodec_random_codes_audio');
  t.equal(out.audio.length, codes.frames * 640, 'frames * hop_length samples');
  const diff = maxAbsDiff(out.audio, audio.data as Float32Array);
  t.ok(diff <= atol(backend, AUDIO_ATOL, 'audio'), `waveform max abs diff ${diff.toExponential(2)}`);

  // With stages asked for, the decoder runs as one graph (the taps are its nodes); without them, on the CPU, it runs
  // through the streaming decoder, 25 frames per push. x86-64's products sum every output in the same order whatever
  // the number of columns, so there the two agree bit for bit; the arm64 prebuild's NEON products (run under qemu in
  // CI) round a window differently from the whole clip: ~1e-7 on this fixture, float32 rounding.
  const plain = await nativeDiagnostics().decodeCodes(model, codes.data, codes.codebooks, codes.frames);
  if (process.arch === 'x64') {
    t.same(plain, out.audio, 'without stages the same waveform comes back alone');
  } else {
    const plainDiff = maxAbsDiff(plain, out.audio);
    t.equal(plain.length, out.audio.length, 'without stages a waveform as long comes back alone');
    t.ok(
      plainDiff <= 1e-5 * Math.max(1, maxAbs(out.audio)),
      `without stages the same waveform within float32 rounding comes back alone (${plainDiff.toExponential(2)})`,
    );
  }
  if (backend !== 'cpu') return;
  const f16 = await nativeDiagnostics().decodeCodes(monoF16, codes.data, codes.codebooks, codes.frames);
  t.comment(`f16 GGUF waveform max abs diff ${maxAbsDiff(f16, audio.data as Float32Array).toExponential(2)}`);
});

eachBackend(t, 'greedy goldens decode row by row (mono)', async (t, backend) => {
  const model = await f32On('musicgen-tiny', backend);
  for (const name of ['greedy_cfg3', 'greedy_cfg1']) {
    const audio = golden('musicgen-tiny', `${name}_audio`);
    const [batch, , samples] = audio.shape as [number, number, number];
    for (let b = 0; b < batch; b++) {
      const [wave] = await decodeCodes(model, codeMatrix('musicgen-tiny', `${name}_codes`, b));
      const ref = (audio.data as Float32Array).subarray(b * samples, (b + 1) * samples);
      const diff = maxAbsDiff(wave as Float32Array, ref);
      t.ok(diff <= atol(backend, AUDIO_ATOL, 'audio'), `${name} row ${b}: max abs diff ${diff.toExponential(2)}`);
    }
  }
});

eachBackend(t, 'stereo: rows 2q / 2q+1 decode to left / right', async (t, backend) => {
  const model = await f32On('musicgen-stereo-tiny', backend);
  for (const name of ['greedy_cfg3', 'prompted_greedy_cfg3']) {
    const audio = golden('musicgen-stereo-tiny', `${name}_audio`);
    const [batch, channels, samples] = audio.shape as [number, number, number];
    for (let b = 0; b < batch; b++) {
      const waves = await decodeCodes(model, codeMatrix('musicgen-stereo-tiny', `${name}_codes`, b));
      t.equal(waves.length, channels);
      waves.forEach((wave, c) => {
        const start = (b * channels + c) * samples;
        const diff = maxAbsDiff(wave, (audio.data as Float32Array).subarray(start, start + samples));
        const tolerance = atol(backend, AUDIO_ATOL, 'audio');
        t.ok(diff <= tolerance, `${name} row ${b} channel ${c}: max abs diff ${diff.toExponential(2)}`);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// float64 references for stage 0 (Conv1d with HF's reflect padding) and stage 1 (LSTM + skip), fed with the
// native result of the stage before, so each checks one stage in isolation.

// HF's _pad1d in reflect mode, short inputs included (zero-extend, reflect, cut the extension's mirror off).
function padReflect(row: number[], left: number, right: number): number[] {
  const extra = row.length <= Math.max(left, right) ? Math.max(left, right) - row.length + 1 : 0;
  const r = [...row, ...new Array<number>(extra).fill(0)];
  const out: number[] = [];
  for (let i = -left; i < r.length + right; i++)
    out.push(r[i < 0 ? -i : i >= r.length ? 2 * (r.length - 1) - i : i] as number);
  return out.slice(0, out.length - extra);
}

// Stride-1 Conv1d, x [in][T] -> [out][T]; weight in PyTorch order [out][in][k].
function conv1dRef(x: Float32Array, inC: number, w: Float32Array, bias: Float32Array, k: number): Float64Array {
  const T = x.length / inC;
  const outC = bias.length;
  const right = Math.floor((k - 1) / 2);
  const rows = Array.from({ length: inC }, (_, i) =>
    padReflect(Array.from(x.subarray(i * T, (i + 1) * T)), k - 1 - right, right),
  );
  const y = new Float64Array(outC * T);
  for (let o = 0; o < outC; o++) {
    for (let t = 0; t < T; t++) {
      let acc = bias[o] as number;
      for (let i = 0; i < inC; i++)
        for (let j = 0; j < k; j++) acc += (w[(o * inC + i) * k + j] as number) * (rows[i]![t + j] as number);
      y[o * T + t] = acc;
    }
  }
  return y;
}

// PyTorch LSTM (gates i, f, g, o) stacked over `layers`, zero initial state, plus the skip; x [C][T].
function lstmRef(f: GgufFile, stage: number, layers: number, x: Float32Array, C: number): Float64Array {
  const T = x.length / C;
  let seq: Float64Array[] = Array.from({ length: T }, (_, t) =>
    Float64Array.from({ length: C }, (_, c) => x[c * T + t] as number),
  );
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  for (let l = 0; l < layers; l++) {
    const p = `codec.dec.${stage}.lstm.${l}.`;
    const [wih, whh, bih, bhh] = ['w_ih', 'w_hh', 'b_ih', 'b_hh'].map((n) => tensorF32(f, p + n)) as Float32Array[];
    const h = new Float64Array(C);
    const c = new Float64Array(C);
    seq = seq.map((input) => {
      const gates = new Float64Array(4 * C);
      for (let g = 0; g < 4 * C; g++) {
        let acc = (bih![g] as number) + (bhh![g] as number);
        for (let i = 0; i < C; i++)
          acc += (wih![g * C + i] as number) * (input[i] as number) + (whh![g * C + i] as number) * (h[i] as number);
        gates[g] = acc;
      }
      for (let i = 0; i < C; i++) {
        c[i] = sigmoid(gates[C + i]!) * c[i]! + sigmoid(gates[i]!) * Math.tanh(gates[2 * C + i]!);
        h[i] = sigmoid(gates[3 * C + i]!) * Math.tanh(c[i]!);
      }
      return Float64Array.from(h);
    });
  }
  const y = new Float64Array(C * T);
  for (let t = 0; t < T; t++) for (let i = 0; i < C; i++) y[i * T + t] = seq[t]![i]! + (x[i * T + t] as number);
  return y;
}

function randomCodes(codebooks: number, frames: number, size: number, seed: number): Int32Array {
  let s = seed;
  return Int32Array.from({ length: codebooks * frames }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % size;
  });
}

t.test('inputs shorter than the reflect padding follow HF (zero-extend, reflect, cut)', async (t) => {
  const [k, inC] = monoFile.tensors.find((x) => x.name === 'codec.dec.0.conv.weight')!.dims as [number, number];
  const w = tensorF32(monoFile, 'codec.dec.0.conv.weight');
  const bias = tensorF32(monoFile, 'codec.dec.0.conv.bias');
  // Frames 1 .. pad+1 cover every short case of the k=7 input conv (pad 3) and the first ordinary one.
  for (let frames = 1; frames <= (k - 1) / 2 + 1; frames++) {
    const codes = randomCodes(4, frames, 2048, frames);
    const out = await nativeDiagnostics().decodeCodes(mono, codes, 4, frames, [-1, 0]);
    const quantized = out.stages[0]!;
    const conv = out.stages[1]!;
    const ref = conv1dRef(quantized.data, inC, w, bias, k);
    const diff = maxAbsDiff(conv.data, ref);
    t.ok(diff <= stageTolerance(ref), `${frames} frame(s): conv_in max abs diff ${diff.toExponential(2)}`);
    t.equal(out.audio.length, frames * 640);
    t.ok(out.audio.every(Number.isFinite), `${frames} frame(s): finite waveform`);
  }
});

t.test('the LSTM carries its state across graph chunks', async (t) => {
  // 600 frames span several LSTM graphs (about 250 steps each with 2 layers, see encodec-lstm.cpp).
  const frames = 600;
  const codes = randomCodes(4, frames, 2048, 7);
  const out = await nativeDiagnostics().decodeCodes(mono, codes, 4, frames, [0, 1]);
  const before = out.stages[0]!;
  const after = out.stages[1]!;
  const layers = mono.info().hparams.codec.numLstmLayers;
  const ref = lstmRef(monoFile, 1, layers, before.data, before.channels);
  const diff = maxAbsDiff(after.data, ref);
  t.ok(diff <= stageTolerance(ref), `LSTM over ${frames} frames: max abs diff ${diff.toExponential(2)}`);
});

t.test('bad codes are typed errors, never out-of-bounds reads', async (t) => {
  const { data, codebooks, frames } = codeMatrix('musicgen-tiny', 'encodec_random_codes');
  const withCode = (code: number) => Int32Array.from(data, (v, i) => (i === 5 ? code : v));
  const INVALID = { code: 'ERR_MUSICGEN_INVALID_OPTION' };
  for (const bad of [2048, -1]) {
    await t.rejects(decodeCodes(mono, { data: withCode(bad), codebooks, frames }), {
      ...INVALID,
      message: /codes\.data\[5\]/,
    });
    // The native layer checks again on its own.
    await t.rejects(nativeDiagnostics().decodeCodes(mono, withCode(bad), codebooks, frames), {
      ...INVALID,
      message: /code -?\d+ at codebook 0, frame 5/,
    });
  }
  await t.rejects(decodeCodes(mono, { data: data.subarray(0, 3 * frames), codebooks: 3, frames }), {
    ...INVALID,
    message: /codes\.codebooks/,
  });
  await t.rejects(decodeCodes(stereo, { data, codebooks, frames }), { ...INVALID, message: /codebook count/ });
  await t.rejects(decodeCodes(mono, { data: new Int32Array(0), codebooks, frames: 0 }), {
    ...INVALID,
    message: /codes\.frames/,
  });
  await t.rejects(decodeCodes(mono, { data: data.subarray(1), codebooks, frames }), {
    ...INVALID,
    message: /codes\.data/,
  });
  await t.rejects(nativeDiagnostics().decodeCodes(mono, new Int32Array(5 * frames), 5, frames), {
    ...INVALID,
    message: /codebooks/,
  });
  await t.rejects(nativeDiagnostics().decodeCodes(mono, data, codebooks, frames, [99]), {
    ...INVALID,
    message: /stage 99/,
  });
  t.throws(() => nativeDiagnostics().decodeCodes(mono, data, codebooks, 0), INVALID);
  t.throws(() => nativeDiagnostics().decodeCodes(mono, data.subarray(1), codebooks, frames), INVALID);
});
