// MusicGen-Melody prefix conditioning against HF goldens (docs/reference-notes.md §11.2, §7): the chroma + text
// prefix generate() builds, teacher-forced cond/uncond/guided logits over it, and greedy CFG generation with
// and without chroma. The chroma input is the golden `input_features` (one-hots the goldens used), so this
// checks the LM side only. Prompts, guidance scales and lengths come from the manifest and golden shapes;
// parity is asserted on an f32 GGUF.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { generateCodes } from '../lib/generation-job';
import { native, type NativeChromaFeatures, type NativeModel } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { atol, eachBackend, type ParityBackend } from './helpers/backends';
import { maxAbsDiff, readNpy } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const fixtureDir = path.join(fixtures, 'musicgen-melody-tiny');
const golden = (name: string) => readNpy(path.join(fixtureDir, 'goldens', `${name}.npy`));
const manifest = JSON.parse(fs.readFileSync(path.join(fixtureDir, 'manifest.json'), 'utf8')) as {
  arrays: Array<{ name: string; description: string }>;
};
const describe = (name: string): string => {
  const entry = manifest.arrays.find((a) => a.name === name);
  if (!entry) throw new Error(`manifest has no ${name}`);
  return entry.description;
};
// Python repr of the processor's text list, e.g. text=['a', "b's"].
function promptsOf(description: string): string[] {
  const list = /text=\[(.*?)\]/.exec(description)?.[1];
  if (list === undefined) throw new Error(`no prompts in: ${description}`);
  return [...list.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'),
  );
}
function numberIn(description: string, pattern: RegExp): number {
  const value = pattern.exec(description)?.[1];
  if (value === undefined) throw new Error(`${pattern} not found in: ${description}`);
  return Number(value);
}
const prompts = promptsOf(describe('text_input_ids'));

// input_features [B, frames, num_chroma] split into one chroma matrix per prompt.
function chromaPerPrompt(): NativeChromaFeatures[] {
  const features = golden('input_features');
  const [B, frames, bins] = features.shape as [number, number, number];
  return Array.from({ length: B }, (_, b) => ({
    data: Float32Array.from((features.data as Float32Array).subarray(b * frames * bins, (b + 1) * frames * bins)),
    frames,
  }));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-melody-'));
let melody: NativeModel;
let text: NativeModel;
t.before(async () => {
  const melodyFile = path.join(tmp, 'melody-f32.gguf');
  const textFile = path.join(tmp, 'text-f32.gguf');
  await convertCheckpoint(fixtureDir, melodyFile, { type: 'f32' });
  await convertCheckpoint(path.join(fixtures, 'musicgen-tiny'), textFile, { type: 'f32' });
  melody = await native().loadModel(melodyFile, { backend: 'cpu', threads: 2 });
  text = await native().loadModel(textFile, { backend: 'cpu', threads: 2 });
});
// The melody model on the other parity backends, loaded on first use.
const onBackend: Partial<Record<ParityBackend, NativeModel>> = {};
async function melodyOn(backend: ParityBackend): Promise<NativeModel> {
  if (backend === 'cpu') return melody;
  onBackend[backend] ??= await native().loadModel(path.join(tmp, 'melody-f32.gguf'), { backend, threads: 2 });
  return onBackend[backend];
}
t.teardown(() => {
  melody?.dispose();
  text?.dispose();
  for (const m of Object.values(onBackend)) m.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Tolerances (fixture README "Measured float32 noise"): HF's own f32-vs-f64 noise is ~1e-7 relative on
// states and ~1e-6 relative on logits (up to 1e-4 absolute after CFG); two independent float32
// implementations land within a few times that.
const STATE_ATOL = 1e-4;
const LOGIT_ATOL = 2e-3;

eachBackend(
  t,
  'teacher-forced melody decoder matches HF: prefix, hidden states, cond/uncond/guided logits',
  async (t, backend) => {
    const ids = golden('tf_decoder_input_ids');
    const scale = numberIn(describe('tf_logits_guided'), /\* ([\d.]+)/);
    const out = await nativeDiagnostics().lmForward(
      await melodyOn(backend),
      prompts,
      Int32Array.from(ids.data),
      scale,
      chromaPerPrompt(),
    );
    const prefix = golden('tf_prefix_hidden_states');
    t.same([out.batch, out.codebooks, out.tokens], ids.shape, 'shape [B, K, T]');
    t.same([out.rows, out.prefixTokens, out.hidden], prefix.shape, 'prefix [2B, chroma_length + L, H]');
    const checks: Array<[string, Float32Array | null, number]> = [
      ['tf_prefix_hidden_states', out.prefix, atol(backend, STATE_ATOL, 'states')],
      ['tf_decoder_last_hidden', out.lastHidden, atol(backend, STATE_ATOL, 'states')],
      ['tf_logits_cond', out.cond, atol(backend, LOGIT_ATOL, 'logits')],
      ['tf_logits_uncond', out.uncond, atol(backend, LOGIT_ATOL, 'logits')],
      ['tf_logits_guided', out.guided, atol(backend, LOGIT_ATOL, 'logits')],
    ];
    for (const [name, actual, atol] of checks) {
      const expected = golden(name).data as Float32Array;
      t.equal(actual?.length, expected.length, `${name}: size`);
      const diff = maxAbsDiff(actual ?? [], expected);
      t.ok(diff <= atol, `${name}: max abs diff ${diff} <= ${atol}`);
    }
  },
);

// Codes are compared exactly: every greedy decision has a top-1/top-2 gap >= 0.025 (manifest notes), far
// above the float32 noise of the scores.
for (const [run, withChroma] of [
  ['melody_greedy_cfg3', true],
  ['textonly_greedy_cfg3', false],
] as const) {
  eachBackend(t, `${run}: greedy codes identical to HF`, async (t, backend) => {
    const expected = golden(`${run}_codes`);
    const [B, K, frames] = expected.shape as [number, number, number];
    const description = describe(`${run}_codes`);
    // max_new_tokens LM steps give max_new_tokens - K + 1 frames (mono delay pattern).
    t.equal(frames, numberIn(description, /max_new_tokens=(\d+)/) - K + 1, 'frames from max_new_tokens');
    const results = await generateCodes(
      await melodyOn(backend),
      prompts,
      { frames, topK: 1, guidanceScale: numberIn(description, /guidance_scale=([\d.]+)/) },
      undefined,
      withChroma ? chromaPerPrompt() : undefined,
    );
    t.equal(results.length, B, 'one result per prompt');
    t.same(
      results.flatMap((r) => Array.from(r.data)),
      expected.data,
      'codes identical',
    );
  });
}

t.test('null entries mean no chroma: same as text-only generation', async (t) => {
  const expected = golden('textonly_greedy_cfg3_codes');
  const frames = expected.shape[2];
  const results = await generateCodes(
    melody,
    prompts,
    { frames, topK: 1, guidanceScale: 3 },
    undefined,
    prompts.map(() => null),
  );
  t.same(
    results.flatMap((r) => Array.from(r.data)),
    expected.data,
    'codes identical',
  );
});

t.test('chroma features are rejected by text models and checked for size', async (t) => {
  const chroma = chromaPerPrompt();
  await t.rejects(generateCodes(text, prompts, { frames: 2, topK: 1 }, undefined, chroma), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: /MusicGen-Melody/,
  });
  const ids = new Int32Array(prompts.length * text.info().codebooks).fill(2048);
  await t.rejects(nativeDiagnostics().lmForward(text, prompts, ids, 3, chroma), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
  });
  const truncated = chroma.map((c) => ({ data: c.data.subarray(1), frames: c.frames }));
  await t.rejects(generateCodes(melody, prompts, { frames: 2, topK: 1 }, undefined, truncated), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
  });
  await t.rejects(generateCodes(melody, prompts, { frames: 2, topK: 1 }, undefined, chroma.slice(1)), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
  });
});
