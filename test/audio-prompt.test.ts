// Audio-prompt continuation (docs/reference-notes.md §9, §12): prompt audio -> EnCodec codes (stereo channels encoded
// separately and interleaved), then greedy generation continuing them with CFG. Codes must equal HF's exactly,
// mono and stereo. Prompts, lengths and the stereo prompt layout come from the fixture manifests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { encodeAudio, encodeAudioPrompt } from '../lib/encode-audio';
import { maxFrames } from '../lib/generate';
import { generateCodes } from '../lib/generation-job';
import { native, type NativeModel } from '../lib/native';
import { eachBackend, type ParityBackend } from './helpers/backends';
import { readNpy } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
interface Manifest {
  arrays: Array<{ name: string; description: string }>;
  notes: { prompts: string[] };
}
const manifest = (model: string) =>
  JSON.parse(fs.readFileSync(path.join(fixtures, model, 'manifest.json'), 'utf8')) as Manifest;
const describe = (model: string, name: string) => manifest(model).arrays.find((a) => a.name === name)!.description;
const golden = (model: string, name: string) => readNpy(path.join(fixtures, model, 'goldens', `${name}.npy`));
// Both models' prompt clips are musicgen-tiny's (the stereo manifest says so).
const clip = (i: number) => Float32Array.from(golden('musicgen-tiny', `prompt_audio_${i}`).data as number[]);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-audio-prompt-'));
const models: Record<string, NativeModel> = {};
t.before(async () => {
  for (const fixture of ['musicgen-tiny', 'musicgen-stereo-tiny']) {
    const file = path.join(tmp, `${fixture}.gguf`);
    await convertCheckpoint(path.join(fixtures, fixture), file, { type: 'f32' });
    models[fixture] = await native().loadModel(file, { backend: 'cpu', threads: 2 });
  }
});
// The models on the other parity backends, loaded on first use.
const onBackend: Record<string, NativeModel> = {};
async function modelOn(fixture: string, backend: ParityBackend): Promise<NativeModel> {
  if (backend === 'cpu') return models[fixture]!;
  const file = path.join(tmp, `${fixture}.gguf`);
  onBackend[`${fixture}-${backend}`] ??= await native().loadModel(file, { backend, threads: 2 });
  return onBackend[`${fixture}-${backend}`]!;
}
t.teardown(() => {
  for (const m of [...Object.values(models), ...Object.values(onBackend)]) m.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// musicgen-tiny: processor(audio=[prompt_audio_0, prompt_audio_1]); musicgen-stereo-tiny:
// audio=[stack(prompt_audio_0, prompt_audio_1), stack(prompt_audio_1, prompt_audio_0)], rows = left, right.
const AUDIO: Record<string, () => Float32Array[][]> = {
  'musicgen-tiny': () => [[clip(0)], [clip(1)]],
  'musicgen-stereo-tiny': () => [
    [clip(0), clip(1)],
    [clip(1), clip(0)],
  ],
};

for (const fixture of Object.keys(AUDIO)) {
  // Codes are exact: every RVQ decision has a distance gap >= 150x float32 rounding, every greedy decision a
  // top-1/top-2 gap >= 0.02 (manifest notes min_margin), far above float32 noise.
  eachBackend(t, `${fixture}: prompt codes and prompted greedy CFG codes identical to HF`, async (t, backend) => {
    const model = await modelOn(fixture, backend);
    const promptRef = golden(fixture, 'prompted_prompt_codes');
    const prompt = await encodeAudioPrompt(model, AUDIO[fixture]!());
    t.equal(prompt.frames, promptRef.shape[2], 'prompt frames');
    t.same(Array.from(prompt.data), promptRef.data, 'prompted_prompt_codes identical');

    const expected = golden(fixture, 'prompted_greedy_cfg3_codes');
    const [B, K, frames] = expected.shape as [number, number, number];
    const description = describe(fixture, 'prompted_greedy_cfg3_codes');
    const guidanceScale = Number(/guidance_scale=([\d.]+)/.exec(description)?.[1]);
    const maxNewTokens = Number(/max_new_tokens=(\d+)/.exec(description)?.[1]);
    let totalSteps = 0;
    const results = await generateCodes(
      model,
      manifest(fixture).notes.prompts,
      { frames: frames - prompt.frames, topK: 1, guidanceScale, onProgress: (p) => (totalSteps = p.totalSteps) },
      prompt,
    );
    t.same(
      results.map((r) => [r.codebooks, r.frames]),
      Array.from({ length: B }, () => [K, frames]),
      'prompt frames + new frames per prompt',
    );
    t.same(
      results.flatMap((r) => Array.from(r.data)),
      expected.data,
      'prompted_greedy_cfg3_codes identical',
    );
    t.equal(totalSteps, maxNewTokens, 'LM steps = HF max_new_tokens (the prompt is one prefill)');
  });
}

t.test('unequal prompt lengths are left-padded with zeros (processor padding=True)', async (t) => {
  const model = models['musicgen-tiny']!;
  const short = clip(0).slice(0, clip(0).length - 1000);
  const prompt = await encodeAudioPrompt(model, [[short], [clip(1)]]);
  const padded = new Float32Array(clip(1).length);
  padded.set(short, padded.length - short.length);
  const alone = await encodeAudio(model, padded);
  t.same(Array.from(prompt.data.subarray(0, alone.data.length)), Array.from(alone.data), 'first prompt padded left');
});

t.test('bad audio prompts are typed errors', async (t) => {
  const model = models['musicgen-tiny']!;
  const invalidOption = { code: 'ERR_MUSICGEN_INVALID_OPTION' };
  await t.rejects(encodeAudioPrompt(model, []), invalidOption, 'no prompt');
  await t.rejects(encodeAudioPrompt(model, [[clip(0), clip(1)]]), invalidOption, 'stereo clip for a mono model');
  const prompt = await encodeAudioPrompt(model, [[clip(0)]]);
  await t.rejects(generateCodes(model, ['a', 'b'], { frames: 1 }, prompt), invalidOption, 'one clip, two prompts');
  // Beyond one window generation goes long-form, where each window continues the last: the audio prompt must leave
  // room for new frames in the first window.
  const frames = maxFrames(model.info()) - prompt.frames + 1;
  const window = prompt.frames / model.info().frameRate;
  await t.rejects(
    generateCodes(model, ['a'], { frames, longForm: { window } }, prompt),
    { ...invalidOption, message: /shorter than the window/ },
    'an audio prompt as long as the window',
  );
  const bad = { data: prompt.data.map(() => 5000), frames: prompt.frames };
  await t.rejects(generateCodes(model, ['a'], { frames: 1 }, bad), invalidOption, 'codes out of range');
});
