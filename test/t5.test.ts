// Text conditioning (docs/reference-notes.md §2-4) against HF goldens: processor batch, T5 relative-position buckets,
// T5 last_hidden_state, enc_to_dec_proj * mask, and the text rows of the melody prefix.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { encodeText, type EncodedText } from '../lib/encode-text';
import { native, type NativeModel } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { atol, eachBackend, type ParityBackend } from './helpers/backends';
import { maxAbsDiff, readNpy } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 't5-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Independent float32 implementations differ by a few times the goldens' own f32-vs-f64 noise (5.5e-7 on
// t5_last_hidden_state, 7.6e-7 on enc_to_dec_proj with values up to ~3): README's hidden-state tolerance.
const HIDDEN_ATOL = 1e-4;

function golden(fixture: string, name: string) {
  return readNpy(path.join(fixtures, fixture, 'goldens', `${name}.npy`));
}

function prompts(fixture: string): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(fixtures, fixture, 'manifest.json'), 'utf8')) as {
    notes: { prompts: string[] };
  };
  return manifest.notes.prompts;
}

async function load(
  fixture: string,
  type: 'f32' | 'f16' | 'q8_0',
  backend: ParityBackend = 'cpu',
): Promise<NativeModel> {
  const file = path.join(tmp, `${fixture}-${type}.gguf`);
  if (!fs.existsSync(file)) await convertCheckpoint(path.join(fixtures, fixture), file, { type });
  return native().loadModel(file, { backend, threads: 2 });
}

// Processor output and T5 states are identical in layout: [B, L] ids/mask, [B, L, D] states.
function checkBatch(t: Test, fixture: string, enc: EncodedText) {
  const ids = golden(fixture, 'text_input_ids');
  const mask = golden(fixture, 'text_attention_mask');
  t.same([enc.batch, enc.tokens], ids.shape, 'batch shape');
  t.same(Array.from(enc.inputIds), ids.data, 'input ids exact');
  t.same(Array.from(enc.attentionMask), mask.data, 'attention mask exact');
}

t.test('bucket function matches HF for every relative position in the golden', async (t) => {
  const model = await load('musicgen-tiny', 'f32');
  t.teardown(() => model.dispose());
  const { relativeBuckets, relativeMaxDistance } = model.info().hparams.t5;
  const table = golden('musicgen-tiny', 't5_relative_position_buckets');
  const n = table.shape[1] as number;
  const rel = Int32Array.from((table.data as number[]).slice(0, n));
  const buckets = nativeDiagnostics().t5RelativeBucket(rel, relativeBuckets, relativeMaxDistance);
  t.same(Array.from(buckets), (table.data as number[]).slice(n), `${n} buckets exact`);
});

eachBackend(t, 'musicgen-tiny f32: ids, T5 states and projected states match HF', async (t, backend) => {
  const model = await load('musicgen-tiny', 'f32', backend);
  const HIDDEN = atol(backend, HIDDEN_ATOL, 'states');
  t.teardown(() => model.dispose());
  const enc = await encodeText(model, prompts('musicgen-tiny'));
  checkBatch(t, 'musicgen-tiny', enc);

  const hidden = golden('musicgen-tiny', 't5_last_hidden_state');
  t.same([enc.batch, enc.tokens, enc.t5Dim], hidden.shape);
  // Padded query rows are compared too: HF computes them (finite) before the mask zeroes them downstream.
  const t5Err = maxAbsDiff(enc.t5States, hidden.data as Float32Array);
  t.ok(t5Err <= HIDDEN, `t5_last_hidden_state max abs diff ${t5Err.toExponential(2)} <= ${HIDDEN}`);

  const projected = golden('musicgen-tiny', 'enc_to_dec_proj_masked');
  t.same([enc.batch, enc.tokens, enc.hiddenDim], projected.shape);
  const projErr = maxAbsDiff(enc.states, projected.data as Float32Array);
  t.ok(projErr <= HIDDEN, `enc_to_dec_proj_masked max abs diff ${projErr.toExponential(2)} <= ${HIDDEN}`);
  // Padding rows must be exact zeros (the mask multiplication), not merely small.
  for (let i = 0; i < enc.batch * enc.tokens; i++) {
    if (enc.attentionMask[i] !== 0) continue;
    const row = enc.states.subarray(i * enc.hiddenDim, (i + 1) * enc.hiddenDim);
    if (row.some((v) => v !== 0)) t.fail(`padding row ${i} is not zero`);
  }

  // A prompt encoded alone equals its row of the padded batch: padding keys get exactly zero attention weight.
  const alone = await encodeText(model, prompts('musicgen-tiny')[0] as string);
  const len = alone.tokens;
  const aloneErr = maxAbsDiff(alone.t5States, enc.t5States.subarray(0, len * enc.t5Dim));
  t.ok(aloneErr <= 1e-6, `single prompt vs batch row 0: ${aloneErr.toExponential(2)} (summation order only)`);
});

eachBackend(t, 'musicgen-melody-tiny f32: text rows of the generate() prefix match HF', async (t, backend) => {
  const model = await load('musicgen-melody-tiny', 'f32', backend);
  const HIDDEN = atol(backend, HIDDEN_ATOL, 'states');
  t.teardown(() => model.dispose());
  const enc = await encodeText(model, prompts('musicgen-melody-tiny'));
  checkBatch(t, 'musicgen-melody-tiny', enc);

  // tf_prefix_hidden_states [2B, chroma_length + L, H]: rows 0..B-1 are conditional, text after the chroma part.
  const prefix = golden('musicgen-melody-tiny', 'tf_prefix_hidden_states');
  const chromaLength = model.info().hparams.melody?.chromaLength ?? 0;
  const [, rows = 0, width = 0] = prefix.shape;
  t.equal(rows, chromaLength + enc.tokens, 'prefix = chroma rows + text rows');
  t.equal(width, enc.hiddenDim);
  const expected = new Float32Array(enc.states.length);
  const data = prefix.data as Float32Array;
  for (let b = 0; b < enc.batch; b++) {
    const start = (b * rows + chromaLength) * width;
    expected.set(data.subarray(start, start + enc.tokens * width), b * enc.tokens * width);
  }
  const err = maxAbsDiff(enc.states, expected);
  t.ok(err <= HIDDEN, `prefix text rows max abs diff ${err.toExponential(2)} <= ${HIDDEN}`);
});

t.test('quantised T5 deviations (reported, not asserted)', async (t) => {
  const hidden = golden('musicgen-tiny', 't5_last_hidden_state').data as Float32Array;
  const projected = golden('musicgen-tiny', 'enc_to_dec_proj_masked').data as Float32Array;
  for (const type of ['f16', 'q8_0'] as const) {
    const model = await load('musicgen-tiny', type);
    const enc = await encodeText(model, prompts('musicgen-tiny'));
    model.dispose();
    t.same(Array.from(enc.inputIds), golden('musicgen-tiny', 'text_input_ids').data, `${type}: ids exact`);
    t.comment(
      `${type}: t5_last_hidden_state max abs diff ${maxAbsDiff(enc.t5States, hidden).toExponential(2)}, ` +
        `enc_to_dec_proj_masked ${maxAbsDiff(enc.states, projected).toExponential(2)}`,
    );
  }
});

t.test('input validation', async (t) => {
  const model = await load('musicgen-tiny', 'f32');
  await t.rejects(encodeText(model, ['ok', 3 as unknown as string]), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: /prompts\[1\]/,
  });
  await t.rejects(encodeText(model, []), { code: 'ERR_MUSICGEN_INVALID_OPTION' });
  // eslint-disable-next-line no-sparse-arrays
  await t.rejects(encodeText(model, [, 'x'] as unknown as string[]), { message: /prompts\[0\]/ });
  // Like generate(): a prompt without text is refused rather than conditioning on EOS alone (docs/bad-input.md).
  await t.rejects(encodeText(model, ' '), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: /some text .* for prompts /,
  });
  t.equal(model.tokenize('').length, 1, 'tokenize() itself still takes any string: "" is EOS alone');
  t.throws(() => nativeDiagnostics().t5RelativeBucket(new Int32Array(1), 1, 128), { code: 'ERR_INVALID_ARG_VALUE' });
  model.dispose();
  await t.rejects(encodeText(model, 'x'), { code: 'ERR_MUSICGEN_DISPOSED' });
});
