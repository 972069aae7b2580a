// generateCodes(): the delayed LM loop with KV cache, classifier-free guidance and sampling. Greedy runs
// must reproduce HF's codes exactly (mono and stereo); sampling is reproducible by seed; abort and option
// errors behave. Prompts, guidance scales and lengths come from the fixture manifests and golden shapes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MAX_LONG_FORM_SECONDS, type GenerateOptions } from '../lib/generate';
import { defaultModelPath } from '../lib/default-model';
import { generateCodes } from '../lib/generation-job';
import { MusicGen } from '../lib/musicgen';
import { native, type NativeModel } from '../lib/native';
import { eachBackend, type ParityBackend } from './helpers/backends';
import { fixture, type Fixture } from './helpers/fixture';

const guidanceOf = (description: string) => Number(/guidance_scale=([\d.]+)/.exec(description)?.[1]);

const mono = fixture('musicgen-tiny');
const stereo = fixture('musicgen-stereo-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-generate-'));
const models: Record<string, NativeModel> = {};
t.before(async () => {
  for (const [key, f, type] of [
    ['mono', mono, 'f32'],
    ['stereo', stereo, 'f32'],
    ['mono-q8_0', mono, 'q8_0'],
  ] as const) {
    const file = path.join(tmp, `${key}.gguf`);
    await convertCheckpoint(f.dir, file, { type });
    models[key] = await native().loadModel(file, { backend: 'cpu', threads: 2 });
  }
});
t.teardown(() => {
  for (const m of [...Object.values(models), ...Object.values(onBackend)]) m.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// The f32 models on the other parity backends, loaded on first use.
const onBackend: Record<string, NativeModel> = {};
async function modelOn(key: 'mono' | 'stereo', backend: ParityBackend): Promise<NativeModel> {
  if (backend === 'cpu') return models[key]!;
  onBackend[`${key}-${backend}`] ??= await native().loadModel(path.join(tmp, `${key}.gguf`), { backend, threads: 2 });
  return onBackend[`${key}-${backend}`]!;
}

const flat = (results: Array<{ data: Int32Array }>) => results.flatMap((r) => Array.from(r.data));

// The smoke-test model (head size 12, sampling, 1 s) through the public API on each backend. On Vulkan
// this is the generation that crashed lavapipe in 16 of 21 runs while the LM's key-query product read the keys
// through a strided view (backend_set::contiguous_attention_keys); three runs make a regression show.
eachBackend(t, 'the smoke-test model generates with sampling, three times', async (t, backend) => {
  const gen = await MusicGen.load(defaultModelPath(), { backend, threads: 2 });
  try {
    for (let run = 0; run < 3; run++) {
      const audio = await gen.generate('warm piano', { duration: 1, seed: run + 1 });
      const samples = audio.channels[0]!;
      t.equal(samples.length, gen.info.sampleRate, `run ${run + 1}: 1 s of audio`);
      t.ok(samples.every(Number.isFinite), `run ${run + 1}: every sample finite`);
    }
  } finally {
    gen.dispose();
  }
});

// Codes are compared exactly: every greedy decision in these goldens has a top-1/top-2 gap >= 0.02, over
// 350x the float32 noise of the scores (README "Greedy robustness").
for (const [key, f, runs] of [
  ['mono', mono, ['greedy_cfg3', 'greedy_cfg1']],
  ['stereo', stereo, ['greedy_cfg3']],
] as const) {
  for (const run of runs) {
    eachBackend(t, `${key} ${run}: greedy codes identical to HF`, async (t, backend) => {
      const model = await modelOn(key, backend);
      const expected = f.golden(`${run}_codes`);
      const [B, K, frames] = expected.shape as [number, number, number];
      const steps: number[] = [];
      const elapsed: number[] = [];
      let reportedTotal = 0;
      const start = process.hrtime.bigint();
      const results = await generateCodes(model, f.prompts, {
        frames,
        topK: 1,
        guidanceScale: guidanceOf(f.describe(`${run}_codes`)),
        onProgress: ({ step, totalSteps, elapsedMs }) => {
          steps.push(step);
          reportedTotal = totalSteps;
          elapsed.push(elapsedMs);
        },
      });
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      t.equal(results.length, B, 'one result per prompt');
      t.same(
        results.map((r) => [r.codebooks, r.frames]),
        Array.from({ length: B }, () => [K, frames]),
        '[K, frames] each',
      );
      t.same(flat(results), expected.data, 'codes identical');
      const groups = K / model.info().channels;
      t.equal(reportedTotal, frames + groups - 1, 'total LM steps = frames + groups - 1 (HF max_new_tokens)');
      t.same(
        steps,
        Array.from({ length: reportedTotal }, (_, i) => i + 1),
        'onProgress after every step, in order',
      );
      t.ok(
        elapsed.every((ms, i) => ms >= 0 && (i === 0 || ms >= elapsed[i - 1]!)),
        'elapsedMs is non-negative and non-decreasing',
      );
      t.comment(`${key} ${run}: ${(reportedTotal / seconds).toFixed(0)} steps/s (batch ${B}, ${model.info().backend})`);
    });
  }
}

t.test('sampling is reproducible by seed', async (t) => {
  const options: GenerateOptions = { frames: 12, topK: 250, temperature: 1, guidanceScale: 3 };
  const a = await generateCodes(models.mono!, mono.prompts, { ...options, seed: 1234 });
  const b = await generateCodes(models.mono!, mono.prompts, { ...options, seed: 1234 });
  const c = await generateCodes(models.mono!, mono.prompts, { ...options, seed: 1235 });
  t.same(flat(a), flat(b), 'same seed, same codes');
  t.equal(a[0]!.seed, 1234, 'the seed is reported');
  // ~96 sampled codes from top-250 distributions: identical streams are practically impossible.
  t.not(flat(a).join(','), flat(c).join(','), 'another seed, other codes');
  const random = await generateCodes(models.mono!, 'one prompt', { frames: 2 });
  t.ok(Number.isSafeInteger(random[0]!.seed), 'a random seed is drawn and reported');
  t.equal(random.length, 1, 'a single string is one prompt');
});

// Each run owns its cache, scheduler and scratch memory; the weights are shared read-only.
async function concurrentRuns(t: Test, key: string) {
  const options: GenerateOptions = { frames: 40, topK: 1, guidanceScale: 3 };
  const swapped = [...mono.prompts].reverse();
  const [a, b, c] = await Promise.all([
    generateCodes(models[key]!, mono.prompts, options),
    generateCodes(models[key]!, swapped, options),
    generateCodes(models[key]!, mono.prompts, options),
  ]);
  const solo = await generateCodes(models[key]!, mono.prompts, options);
  t.same(flat(a), flat(solo), 'first run as if alone');
  t.same(flat(b), flat([solo[1]!, solo[0]!]), 'second run (prompts swapped) as if alone');
  t.same(flat(c), flat(solo), 'third run as if alone');
}
t.test('concurrent generations on one f32 model do not disturb each other', (t) => concurrentRuns(t, 'mono'));
// Quantised mat-muls convert activations in the CPU backend's work buffer: runs sharing one backend instance
// would race there (wrong codes or a crash), so each run computes on its own instances.
t.test('concurrent generations on one q8_0 model do not disturb each other', (t) => concurrentRuns(t, 'mono-q8_0'));

t.test('duration converts to frames at the model frame rate', async (t) => {
  const frameRate = models.mono!.info().frameRate;
  const results = await generateCodes(models.mono!, 'x', { duration: 3.3 / frameRate, topK: 1 });
  t.equal(results[0]!.frames, 3, 'round(duration * frameRate)');
});

t.test('abort stops a running generation and a pre-aborted signal never starts one', async (t) => {
  const controller = new AbortController();
  let last = 0;
  let total = 0;
  await t.rejects(
    generateCodes(models.mono!, mono.prompts, {
      frames: 1000,
      signal: controller.signal,
      onProgress: ({ step, totalSteps }) => {
        last = step;
        total = totalSteps;
        if (step === 3) controller.abort();
      },
    }),
    { code: 'ERR_MUSICGEN_ABORTED' },
  );
  // Progress reaches JS asynchronously, so the worker may be a few steps ahead when abort() lands; how many
  // depends on machine load, so only "stopped long before the end" is asserted and the lag is reported.
  t.ok(last < total, `stopped before the end (last reported step ${last} of ${total})`);
  t.comment(`steps reported after abort(): ${last - 3}`);
  await t.rejects(generateCodes(models.mono!, 'x', { frames: 5, signal: AbortSignal.abort() }), {
    code: 'ERR_MUSICGEN_ABORTED',
  });
});

t.test('a throwing onProgress rejects the generation with its error', async (t) => {
  const boom = new Error('boom');
  await t.rejects(
    generateCodes(models.mono!, 'x', {
      frames: 50,
      onProgress: () => {
        throw boom;
      },
    }),
    boom,
  );
});

t.test('bad options give clear errors', async (t) => {
  const m = models.mono!;
  const info = m.info();
  // Beyond one window generation goes long-form (docs/long-form.md), up to MAX_LONG_FORM_SECONDS.
  const maxFrames = MAX_LONG_FORM_SECONDS * info.frameRate;
  const bad: Array<[unknown, unknown, RegExp]> = [
    ['x', { frames: 5, topK: -1 }, /integer between 0 and \d+ for topK but received -1/],
    ['x', { frames: 5, topK: 1.5 }, /for topK/],
    ['x', { frames: 5, topK: info.hparams.lm.codebookSize + 1 }, /for topK/],
    ['x', { frames: 5, topP: 1.5 }, /between 0 and 1 for topP/],
    ['x', { frames: 5, temperature: 0 }, /greater than 0 .* for temperature/],
    ['x', { frames: 5, guidanceScale: -1 }, /for guidanceScale/],
    ['x', { frames: 5, seed: -1 }, /for seed/],
    ['x', { frames: 5, seed: 0.5 }, /for seed/],
    ['x', { frames: 0 }, /for frames/],
    ['x', { frames: maxFrames + 1 }, new RegExp(`between 1 and ${maxFrames} for frames`)],
    ['x', { duration: (maxFrames + 1) / info.frameRate }, /for duration/],
    ['x', { duration: 0 }, /for duration/],
    ['x', { duration: 1, frames: 5 }, /exactly one of duration/],
    ['x', { frames: 5, signal: {} }, /an AbortSignal for signal/],
    ['x', { frames: 5, onProgress: 1 }, /a function for onProgress/],
    [[], { frames: 5 }, /non-empty array of strings for prompts/],
    [['a', 2], { frames: 5 }, /a string for prompts\[1\]/],
    ['x', null, /an object for options/],
  ];
  for (const [prompts, options, message] of bad) {
    await t.rejects(
      generateCodes(m, prompts as string[], options as GenerateOptions),
      { code: 'ERR_MUSICGEN_INVALID_OPTION', message },
      `${JSON.stringify(prompts)} ${JSON.stringify(options)}`,
    );
  }
});
