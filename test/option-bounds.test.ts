// The facade is the one contract for options (docs/bad-input.md): every numeric option of the public API is accepted
// at its documented bounds and refused just past them with ERR_MUSICGEN_INVALID_OPTION and a one-line
// `Expected … for <option> but received …` message. Accepted values go all the way through: stream() validates
// at once and starts the native job at the first next(), which these tests take (for the large bounds, through a
// stream that is closed after its first chunk, so an hour of music is never generated).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen, type StreamOptions } from '../lib';
import { FLOAT32_MAX, FLOAT32_MIN_POSITIVE, MAX_LONG_FORM_SECONDS, maxFrames } from '../lib/generate';
import { MELODY_MAX_RATE, MELODY_MIN_RATE } from '../lib/melody';

const root = path.join(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-bounds-'));
const file = path.join(tmp, 'tiny.gguf');
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const INVALID = 'ERR_MUSICGEN_INVALID_OPTION';
const next = (x: number) => x + Math.max(Number.EPSILON, Math.abs(x) * 1e-12);

t.before(async () => {
  await convertCheckpoint(path.join(root, 'test', 'fixtures', 'musicgen-tiny'), file, { type: 'f32' });
});

t.test('load options at and past their bounds', async (t) => {
  for (const threads of [1, 512]) {
    const gen = await MusicGen.load(file, { threads, backend: 'cpu' });
    t.equal(gen.info.threads, threads, `threads ${threads} accepted`);
    gen.dispose();
  }
  for (const threads of [0, 513, 1.5]) {
    await t.rejects(MusicGen.load(file, { threads }), {
      code: INVALID,
      message: new RegExp(`^Expected .* for threads but received ${threads} `),
    });
  }
  for (const memoryBudget of [1, Infinity]) (await MusicGen.load(file, { memoryBudget })).dispose();
  await t.rejects(MusicGen.load(file, { memoryBudget: 0 }), {
    code: INVALID,
    message: /^Expected .* for memoryBudget but received 0 /,
  });
});

t.test('generation options at and past their bounds', async (t) => {
  const gen = await MusicGen.load(file, { threads: 1, backend: 'cpu' });
  t.teardown(() => gen.dispose());
  const info = gen.info;
  const frameRate = info.frameRate;
  const oneWindow = maxFrames(info);
  const window = Math.min(oneWindow, Math.round(info.maxDuration * frameRate)) / frameRate;
  const base: StreamOptions = { frames: 2, topK: 1, memoryBudget: Infinity };

  // [option path, accepted values, refused values]
  const cases: Array<[string, unknown[], unknown[]]> = [
    ['frames', [1, MAX_LONG_FORM_SECONDS * frameRate], [0, MAX_LONG_FORM_SECONDS * frameRate + 1, 1.5]],
    ['duration', [1 / frameRate, MAX_LONG_FORM_SECONDS], [0, next(MAX_LONG_FORM_SECONDS), NaN]],
    ['topK', [0, info.hparams.lm.codebookSize], [-1, info.hparams.lm.codebookSize + 1]],
    ['topP', [0, 1], [-Number.EPSILON, next(1)]],
    ['temperature', [FLOAT32_MIN_POSITIVE, 1e7, FLOAT32_MAX], [0, FLOAT32_MIN_POSITIVE / 2, FLOAT32_MAX * 2, Infinity]],
    ['guidanceScale', [0, FLOAT32_MAX], [-Number.EPSILON, FLOAT32_MAX * 2]],
    ['seed', [0, Number.MAX_SAFE_INTEGER], [-1, Number.MAX_SAFE_INTEGER + 1]],
    ['memoryBudget', [1e12, Infinity], [0, -1]],
    ['chunkFrames', [1, oneWindow], [0, oneWindow + 1]],
    ['chunkSeconds', [1 / frameRate, oneWindow / frameRate], [0, next(oneWindow / frameRate)]],
    // A window holds at least 2 frames (1 of context, 1 new); the stride is under the window (here 1 s).
    ['longForm.window', [2 / frameRate, window], [0, next(window)]],
    ['longForm.stride', [1 / frameRate, 1 - 1 / frameRate], [0, 1]],
  ];
  const withOption = (name: string, value: unknown): StreamOptions => {
    const options: Record<string, unknown> = { ...base };
    if (name === 'duration') delete options.frames;
    if (name.startsWith('longForm.')) {
      // Long enough to need windows: 2 s with 1 s windows.
      delete options.frames;
      options.duration = 2;
      options.longForm = { window: 1, stride: 1 / frameRate, [name.slice(9)]: value };
    } else {
      options[name] = value;
    }
    if (name === 'frames' || name === 'duration') options.chunkFrames = 1;
    return options as StreamOptions;
  };

  for (const [name, accepted, refused] of cases) {
    for (const value of accepted) {
      const stream = gen.stream('bounds', withOption(name, value));
      const first = await stream.next();
      t.notOk(first.done, `${name} = ${value} accepted and generating`);
      await stream.return();
    }
    for (const value of refused) {
      t.throws(
        () => gen.stream('bounds', withOption(name, value)),
        { code: INVALID, message: new RegExp(`^Expected .* for ${name.replace('.', '\\.')} but received `) },
        `${name} = ${value} refused by stream()`,
      );
      if (name.startsWith('chunk')) continue; // stream() only
      await t.rejects(
        gen.generate('bounds', withOption(name, value)),
        { code: INVALID, message: new RegExp(`for ${name.replace('.', '\\.')} but received `) },
        `${name} = ${value} refused by generate()`,
      );
    }
  }
  // generate() runs to the end: the small accepted bounds once through it too.
  const result = await gen.generate('bounds', {
    frames: 1,
    topK: 0,
    topP: 1,
    temperature: FLOAT32_MAX,
    guidanceScale: 0,
    seed: Number.MAX_SAFE_INTEGER,
  });
  t.equal(result.codes.frames, 1);
});

// The audio inputs' one numeric option, the sample rate of { channels, sampleRate } (8-192 kHz, integer): the
// audio prompt through a text model, the melody through a melody model; and decodeCodes' frame count.
t.test('audio sample rates and decodeCodes frames at and past their bounds', async (t) => {
  const melodyFile = path.join(tmp, 'melody-tiny.gguf');
  await convertCheckpoint(path.join(root, 'test', 'fixtures', 'musicgen-melody-tiny'), melodyFile, { type: 'f32' });
  const text = await MusicGen.load(file, { threads: 1, backend: 'cpu' });
  const melody = await MusicGen.load(melodyFile, { threads: 1, backend: 'cpu' });
  t.teardown(() => {
    text.dispose();
    melody.dispose();
  });
  // 0.05 s of audio at any rate: a few frames, well inside one window.
  const clip = (sampleRate: number) => ({ channels: [new Float32Array(sampleRate / 20).fill(0.1)], sampleRate });
  const cases: Array<[string, MusicGen]> = [
    ['audioPrompt', text],
    ['melody', melody],
  ];
  for (const [name, gen] of cases) {
    for (const sampleRate of [MELODY_MIN_RATE, MELODY_MAX_RATE]) {
      const stream = gen.stream('bounds', { frames: 2, topK: 1, [name]: clip(sampleRate) });
      t.notOk((await stream.next()).done, `${name}.sampleRate = ${sampleRate} accepted and generating`);
      await stream.return();
    }
    for (const sampleRate of [MELODY_MIN_RATE - 1, MELODY_MAX_RATE + 1, 44100.5]) {
      const options = { frames: 2, topK: 1, [name]: { ...clip(32000), sampleRate } };
      const message = new RegExp(`^Expected .* for ${name}\\.sampleRate but received ${sampleRate} `);
      await t.rejects(
        gen.generate('bounds', options),
        { code: INVALID, message },
        `${name}.sampleRate = ${sampleRate}`,
      );
    }
  }
  const { codebooks, hparams } = text.info;
  const decoded = await text.decodeCodes({ data: new Int32Array(codebooks), codebooks, frames: 1 });
  t.equal(decoded.channels[0]?.length, hparams.codec.hopLength, 'codes.frames = 1 accepted');
  const tooMany = Math.floor(2 ** 31 / hparams.codec.hopLength) + 1;
  for (const frames of [0, tooMany]) {
    await t.rejects(text.decodeCodes({ data: new Int32Array(codebooks), codebooks, frames }), {
      code: INVALID,
      message: new RegExp(`^Expected .* for codes\\.frames but received ${frames} `),
    });
  }
});
