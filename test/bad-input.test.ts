// The bad input table (docs/bad-input.md) as data: every row is run here and must fail with exactly the code and
// message it documents (or be accepted, where the table says so). The doc's table must equal the one rendered
// from ROWS, so the two cannot drift: after changing ROWS, regenerate it with
//   BAD_INPUT_UPDATE_DOC=1 npx tap dist/test/bad-input.test.js
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen, type MusicGenErrorCode } from '../lib';
import { runtimeInfo } from '../lib/runtime';
import { readForPatch, stringValue, writePatched } from './helpers/gguf-patch';

const root = path.join(__dirname, '..', '..');
const fixtures = path.join(root, 'test', 'fixtures');
const doc = path.join(root, 'docs', 'bad-input.md');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-bad-input-'));
fs.chmodSync(tmp, 0o755); // the unreadable-file row reads it as another user
const files = {
  mono: path.join(tmp, 'tiny-f32.gguf'),
  melody: path.join(tmp, 'melody-tiny-f32.gguf'),
  llama: path.join(tmp, 'llama.gguf'),
  random: path.join(tmp, 'random.gguf'),
  empty: path.join(tmp, 'empty.gguf'),
  truncatedHeader: path.join(tmp, 'truncated-header.gguf'),
  truncatedKey: path.join(tmp, 'truncated-key.gguf'),
  truncatedData: path.join(tmp, 'truncated-data.gguf'),
  locked: path.join(tmp, 'locked.gguf'),
  notWav: path.join(tmp, 'not-a.wav'),
};

let gen: MusicGen;
let melodyGen: MusicGen;
t.before(async () => {
  await convertCheckpoint(path.join(fixtures, 'musicgen-tiny'), files.mono, { type: 'f32' });
  await convertCheckpoint(path.join(fixtures, 'musicgen-melody-tiny'), files.melody, { type: 'f32' });
  gen = await MusicGen.load(files.mono, { backend: 'cpu', threads: 1 });
  melodyGen = await MusicGen.load(files.melody, { backend: 'cpu', threads: 1 });
  const g = readForPatch(files.mono);
  g.metadata.set('general.architecture', stringValue('llama'));
  writePatched(files.llama, g);
  // "Random" bytes from a fixed generator (printable, so the message is stable and readable).
  let x = 12345;
  const noise = Buffer.alloc(4096, 0);
  for (let i = 0; i < noise.length; i++) noise[i] = 33 + ((x = (x * 1103515245 + 12345) >>> 0) % 94);
  fs.writeFileSync(files.random, noise);
  fs.writeFileSync(files.empty, '');
  const bytes = fs.readFileSync(files.mono);
  fs.writeFileSync(files.truncatedHeader, bytes.subarray(0, 100_000));
  // 24 header bytes, then the first key's 8-byte length and name: the file ends inside that name.
  fs.writeFileSync(files.truncatedKey, bytes.subarray(0, 40));
  fs.writeFileSync(files.truncatedData, bytes.subarray(0, bytes.length - 1000));
  fs.copyFileSync(files.mono, files.locked);
  fs.chmodSync(files.locked, 0o000);
  fs.writeFileSync(files.notWav, 'hello world, this is not a WAV file');
});
t.teardown(() => {
  gen.dispose();
  melodyGen.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const pcm = (samples: number, sampleRate: number) => ({ channels: [new Float32Array(samples).fill(0.1)], sampleRate });
const isRoot = process.getuid?.() === 0;

// Loads `file` as another user (nobody) when running as root, who reads every file whatever its mode.
function loadAsNobody(file: string): Promise<never> {
  const script = `require(${JSON.stringify(path.join(__dirname, '..', 'lib'))}).MusicGen.load(${JSON.stringify(file)})
    .then(() => console.log(JSON.stringify({})), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const run = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, env, encoding: 'utf8' });
  const out = JSON.parse(run.stdout.trim().split('\n').pop() || '{}') as { code?: string; message?: string };
  if (!out.code) return Promise.reject(new Error(`loaded as nobody: ${run.stdout}${run.stderr}`));
  return Promise.reject(Object.assign(new Error(out.message), { code: out.code }));
}

// dispose() from another callback while the model works.
async function disposeDuringGenerate(): Promise<unknown> {
  const model = await MusicGen.load(files.mono, { backend: 'cpu', threads: 1 });
  let last = 0;
  let total = 0;
  try {
    return await model.generate('x', {
      frames: 1400,
      onProgress: (p) => {
        last = p.step;
        total = p.totalSteps;
        if (p.step === 2) model.dispose();
      },
    });
  } finally {
    // It must stop within a step or so, not run to the end.
    if (last > 10 || last === total) throw new Error(`the generation ran on to step ${last} of ${total}`);
  }
}

async function disposeDuringStream(): Promise<unknown> {
  const model = await MusicGen.load(files.mono, { backend: 'cpu', threads: 1 });
  const stream = model.stream('x', { frames: 1400, chunkFrames: 5 });
  await stream.next();
  model.dispose();
  return stream.next();
}

// A long prompt within the token limit: every token reaches the T5 encoder (its mask covers them all).
async function longPrompt(): Promise<unknown> {
  const prompt = 'piano '.repeat(1667);
  const encoded = await gen.encodeText(prompt);
  const used = encoded.attentionMask.reduce((sum, v) => sum + v, 0);
  if (used !== 1668) throw new Error(`${used} of 1668 tokens were encoded`);
  return gen.generate(prompt, { frames: 2 });
}

interface Row {
  /** The option or input (first column). */
  input: string;
  /** Its invalid form (second column, markdown). */
  form: string;
  /** The error code, or null where the input is accepted. */
  code: MusicGenErrorCode | null;
  /** The exact message (`<file>` stands for the model path), or what happens when accepted. */
  message: string;
  /**
   * The message where it differs when the EnCodec decoder multiplies gathered columns (the scalar kernel set or
   * ggml's: `info.codecConvolutions` 'columns') instead of convolving directly (AVX2 / AVX-512), as the memory
   * estimate does; the doc's table shows `message`.
   */
  columnsMessage?: string;
  run: () => unknown;
}

const INVALID = 'ERR_MUSICGEN_INVALID_OPTION' as const;
const g =
  (options: unknown, prompt: unknown = 'x') =>
  () =>
    gen.generate(prompt as string, options as Record<string, unknown>);
const s =
  (options: unknown, prompt: unknown = 'x') =>
  () =>
    gen.stream(prompt as string, options as Record<string, unknown>);
const m = (options: unknown) => () => melodyGen.generate('x', options as Record<string, unknown>);
const load = (file: unknown, options?: unknown) => () =>
  MusicGen.load(file as string, options as Record<string, unknown>);

const ROWS: Row[] = [
  // Length
  {
    input: 'duration',
    form: '`NaN`',
    code: INVALID,
    message: 'Expected finite number greater than 0 and at most 3600 for duration but received NaN of type number',
    run: g({ duration: NaN }),
  },
  {
    input: 'duration',
    form: '`Infinity`',
    code: INVALID,
    message: 'Expected finite number greater than 0 and at most 3600 for duration but received Infinity of type number',
    run: g({ duration: Infinity }),
  },
  {
    input: 'duration',
    form: '`-1`',
    code: INVALID,
    message: 'Expected finite number greater than 0 and at most 3600 for duration but received -1 of type number',
    run: g({ duration: -1 }),
  },
  {
    input: 'duration',
    form: '`0`',
    code: INVALID,
    message: 'Expected finite number greater than 0 and at most 3600 for duration but received 0 of type number',
    run: g({ duration: 0 }),
  },
  {
    input: 'duration',
    form: 'huge: `1e9` (over the 3600 s long-form limit)',
    code: INVALID,
    message:
      'Expected finite number greater than 0 and at most 3600 for duration but received 1000000000 of type number',
    run: g({ duration: 1e9 }),
  },
  {
    input: 'duration',
    form: "a string `'10'`",
    code: INVALID,
    message: "Expected finite number greater than 0 and at most 3600 for duration but received '10' of type string",
    run: g({ duration: '10' }),
  },
  {
    input: 'duration',
    form: 'under one frame: `0.001`',
    code: INVALID,
    message: 'Expected at least one frame (0.02 s) for duration but received 0.001 of type number',
    run: g({ duration: 0.001 }),
  },
  {
    input: 'duration + frames',
    form: 'both given',
    code: INVALID,
    message: 'Expected exactly one of duration (seconds) or frames for duration/frames but received 1 of type number',
    run: g({ duration: 1, frames: 5 }),
  },
  {
    input: 'frames',
    form: '`1.5`',
    code: INVALID,
    message: 'Expected integer between 1 and 180000 for frames but received 1.5 of type number',
    run: g({ frames: 1.5 }),
  },
  {
    input: 'frames',
    form: '`0`',
    code: INVALID,
    message: 'Expected integer between 1 and 180000 for frames but received 0 of type number',
    run: g({ frames: 0 }),
  },
  // Sampling
  {
    input: 'topK',
    form: '`0`',
    code: null,
    message: 'accepted: 0 turns top-k filtering off (all 2048 codes)',
    run: g({ frames: 2, topK: 0 }),
  },
  {
    input: 'topK',
    form: '`2049` (> codebook size)',
    code: INVALID,
    message: 'Expected integer between 0 and 2048 for topK but received 2049 of type number',
    run: g({ frames: 2, topK: 2049 }),
  },
  {
    input: 'topK',
    form: '`-1`',
    code: INVALID,
    message: 'Expected integer between 0 and 2048 for topK but received -1 of type number',
    run: g({ frames: 2, topK: -1 }),
  },
  {
    input: 'topK',
    form: '`2.5`',
    code: INVALID,
    message: 'Expected integer between 0 and 2048 for topK but received 2.5 of type number',
    run: g({ frames: 2, topK: 2.5 }),
  },
  {
    input: 'topP',
    form: '`1.5`',
    code: INVALID,
    message: 'Expected finite number between 0 and 1 for topP but received 1.5 of type number',
    run: g({ frames: 2, topP: 1.5 }),
  },
  {
    input: 'topP',
    form: '`NaN`',
    code: INVALID,
    message: 'Expected finite number between 0 and 1 for topP but received NaN of type number',
    run: g({ frames: 2, topP: NaN }),
  },
  {
    input: 'temperature',
    form: '`0`',
    code: INVALID,
    message:
      'Expected finite number greater than 0 and at most 3.4028234663852886e+38 for temperature but received 0 of type number',
    run: g({ frames: 2, temperature: 0 }),
  },
  {
    input: 'temperature',
    form: '`-1`',
    code: INVALID,
    message:
      'Expected finite number greater than 0 and at most 3.4028234663852886e+38 for temperature but received -1 of type number',
    run: g({ frames: 2, temperature: -1 }),
  },
  {
    input: 'temperature',
    form: '`Infinity`',
    code: INVALID,
    message:
      'Expected finite number greater than 0 and at most 3.4028234663852886e+38 for temperature but received Infinity of type number',
    run: g({ frames: 2, temperature: Infinity }),
  },
  {
    input: 'guidanceScale',
    form: '`-1`',
    code: INVALID,
    message:
      'Expected finite number between 0 and 3.4028234663852886e+38 for guidanceScale but received -1 of type number',
    run: g({ frames: 2, guidanceScale: -1 }),
  },
  {
    input: 'guidanceScale',
    form: '`NaN`',
    code: INVALID,
    message:
      'Expected finite number between 0 and 3.4028234663852886e+38 for guidanceScale but received NaN of type number',
    run: g({ frames: 2, guidanceScale: NaN }),
  },
  {
    input: 'seed',
    form: '`-1`',
    code: INVALID,
    message: 'Expected integer between 0 and 9007199254740991 for seed but received -1 of type number',
    run: g({ frames: 2, seed: -1 }),
  },
  {
    input: 'seed',
    form: '`2 ** 53`',
    code: INVALID,
    message: 'Expected integer between 0 and 9007199254740991 for seed but received 9007199254740992 of type number',
    run: g({ frames: 2, seed: 2 ** 53 }),
  },
  {
    input: 'signal',
    form: 'not an AbortSignal: `{}`',
    code: INVALID,
    message: 'Expected an AbortSignal for signal but received an empty object',
    run: g({ frames: 2, signal: {} }),
  },
  {
    input: 'onProgress',
    form: '`5`',
    code: INVALID,
    message: 'Expected a function for onProgress but received 5 of type number',
    run: g({ frames: 2, onProgress: 5 }),
  },
  {
    input: 'options',
    form: '`null`',
    code: INVALID,
    message: 'Expected an object for options but received null',
    run: g(null),
  },
  {
    input: 'longForm.window',
    form: '`0`',
    code: INVALID,
    message: 'Expected finite number greater than 0 and at most 30 for longForm.window but received 0 of type number',
    run: g({ duration: 40, longForm: { window: 0 } }),
  },
  {
    input: 'longForm.stride',
    form: 'the whole window: `30`',
    code: INVALID,
    message: 'Expected between 1 frame and the window (1500 frames) for longForm.stride but received 30 of type number',
    run: g({ duration: 40, longForm: { stride: 30 } }),
  },
  // Prompts
  {
    input: 'prompt',
    form: "empty: `''`",
    code: INVALID,
    message:
      "Expected a prompt with some text (not empty or only whitespace) for prompts but received '' of type string",
    run: g({ frames: 2 }, ''),
  },
  {
    input: 'prompt',
    form: "whitespace: `'   '`",
    code: INVALID,
    message:
      "Expected a prompt with some text (not empty or only whitespace) for prompts but received '   ' of type string",
    run: g({ frames: 2 }, '   '),
  },
  {
    input: 'prompts',
    form: 'an empty array',
    code: INVALID,
    message: 'Expected a string or a non-empty array of strings for prompts but received an array of length 0',
    run: g({ frames: 2 }, []),
  },
  {
    input: 'prompt',
    form: 'not a string: `42`',
    code: INVALID,
    message: 'Expected a string or a non-empty array of strings for prompts but received 42 of type number',
    run: g({ frames: 2 }, 42),
  },
  {
    input: 'prompts',
    form: "an entry not a string: `['ok', 3]`",
    code: INVALID,
    message: 'Expected a string for prompts[1] but received 3 of type number',
    run: g({ frames: 2 }, ['ok', 3]),
  },
  {
    input: 'prompt',
    form: "10 000 characters, 10 001 tokens: `'a'.repeat(10000)`",
    code: INVALID,
    message:
      'Expected a prompt of at most 2048 T5 tokens for prompts but received 10001 tokens (10000 characters); prompts are not truncated, shorten it',
    run: g({ frames: 2 }, 'a'.repeat(10000)),
  },
  {
    input: 'prompt',
    form: "10 002 characters, 1 668 tokens: `'piano '.repeat(1667)`",
    code: null,
    message: 'accepted: all 1668 tokens are encoded (no silent truncation)',
    run: longPrompt,
  },
  // Audio conditioning
  {
    input: 'audioPrompt',
    form: 'not audio: `42`',
    code: INVALID,
    message: 'Expected an object for audioPrompt but received 42 of type number',
    run: g({ frames: 2, audioPrompt: 42 }),
  },
  {
    input: 'audioPrompt',
    form: "a bare path string `'a.wav'`",
    code: INVALID,
    message: "Expected an object for audioPrompt but received 'a.wav' of type string",
    run: g({ frames: 2, audioPrompt: 'a.wav' }),
  },
  {
    input: 'audioPrompt',
    form: '`{}`',
    code: INVALID,
    message: 'Expected { path } or { channels, sampleRate } for audioPrompt but received an empty object',
    run: g({ frames: 2, audioPrompt: {} }),
  },
  {
    input: 'audioPrompt.sampleRate',
    form: '`0`',
    code: INVALID,
    message:
      'Expected an integer sample rate between 8000 and 192000 for audioPrompt.sampleRate but received 0 of type number',
    run: g({ frames: 2, audioPrompt: pcm(100, 0) }),
  },
  {
    input: 'audioPrompt.sampleRate',
    form: '`1e6`',
    code: INVALID,
    message:
      'Expected an integer sample rate between 8000 and 192000 for audioPrompt.sampleRate but received 1000000 of type number',
    run: g({ frames: 2, audioPrompt: pcm(100, 1e6) }),
  },
  {
    input: 'audioPrompt.channels',
    form: '9 channels',
    code: INVALID,
    message:
      'Expected an array of 1 to 8 Float32Array channels for audioPrompt.channels but received an array of length 9',
    run: g({
      frames: 2,
      audioPrompt: { channels: Array.from({ length: 9 }, () => new Float32Array(10)), sampleRate: 32000 },
    }),
  },
  {
    input: 'audioPrompt',
    form: 'an array of 2 for 1 prompt',
    code: INVALID,
    message: 'Expected one entry per prompt (1) for audioPrompt but received an array of length 2',
    run: g({ frames: 2, audioPrompt: [pcm(100, 32000), pcm(100, 32000)] }),
  },
  {
    input: 'audioPrompt.path',
    form: 'a missing file',
    code: INVALID,
    message:
      "Cannot read audioPrompt file /nonexistent.wav: ENOENT: no such file or directory, open '/nonexistent.wav'",
    run: g({ frames: 2, audioPrompt: { path: '/nonexistent.wav' } }),
  },
  {
    input: 'melody',
    form: 'on a text model',
    code: INVALID,
    message: 'melody needs a MusicGen-Melody model; musicgen-tiny is a text-conditioned model',
    run: g({ frames: 2, melody: pcm(32000, 32000) }),
  },
  {
    input: 'melody',
    form: 'not audio: `42`',
    code: INVALID,
    message: 'Expected an object for melody but received 42 of type number',
    run: m({ frames: 2, melody: 42 }),
  },
  {
    input: 'melody.sampleRate',
    form: '`44100.5`',
    code: INVALID,
    message:
      'Expected an integer sample rate between 8000 and 192000 for melody.sampleRate but received 44100.5 of type number',
    run: m({ frames: 2, melody: pcm(100, 44100.5) }),
  },
  {
    input: 'melody.channels',
    form: 'an Int16Array channel',
    code: INVALID,
    message: 'Expected an array of 1 to 8 Float32Array channels for melody.channels but received an array of length 1',
    run: m({ frames: 2, melody: { channels: [new Int16Array(10)], sampleRate: 32000 } }),
  },
  {
    input: 'melody.channels',
    form: 'a NaN sample',
    code: INVALID,
    message: 'melody.channels[0] sample 1 is NaN: melody audio must be finite',
    run: m({ frames: 2, melody: { channels: [Float32Array.of(0, NaN)], sampleRate: 32000 } }),
  },
  {
    input: 'melody.path',
    form: 'not a WAV file',
    code: INVALID,
    message:
      "<tmp>/not-a.wav is not a readable WAV file: chunk ' thi' at byte 12 declares 1936269427 bytes but only 15 remain (truncated or corrupt)",
    run: m({ frames: 2, melody: { path: files.notWav } }),
  },
  // Streams
  {
    input: 'chunkFrames',
    form: '`0`',
    code: INVALID,
    message: 'Expected integer between 1 and 2045 for chunkFrames but received 0 of type number',
    run: s({ frames: 5, chunkFrames: 0 }),
  },
  {
    input: 'chunkFrames + chunkSeconds',
    form: 'both given',
    code: INVALID,
    message:
      'Expected at most one of chunkFrames or chunkSeconds for chunkFrames/chunkSeconds but received 1 of type number',
    run: s({ frames: 5, chunkFrames: 1, chunkSeconds: 1 }),
  },
  {
    input: 'onProgress (stream)',
    form: 'any',
    code: INVALID,
    message: 'Expected no onProgress (chunks report progress) for onProgress but received a function',
    run: s({ frames: 5, onProgress: () => {} }),
  },
  {
    input: 'duration (stream)',
    form: '`NaN`',
    code: INVALID,
    message: 'Expected finite number greater than 0 and at most 3600 for duration but received NaN of type number',
    run: s({ duration: NaN }),
  },
  // Memory
  {
    input: 'memoryBudget',
    form: '`-1`',
    code: INVALID,
    message:
      'Expected a positive number of bytes (or Infinity for no limit) for memoryBudget but received -1 of type number',
    run: g({ frames: 2, memoryBudget: -1 }),
  },
  {
    input: 'memoryBudget (load)',
    form: '`0`',
    code: INVALID,
    message:
      'Expected a positive number of bytes (or Infinity for no limit) for memoryBudget but received 0 of type number',
    run: load(files.mono, { memoryBudget: 0 }),
  },
  {
    input: 'generate() over budget',
    form: '`frames: 100, memoryBudget: 100_000`',
    code: 'ERR_MUSICGEN_MEMORY_BUDGET',
    message:
      'This generate() request needs about 789.1 KiB (KV cache 154.5 KiB + cross-attention 2.3 KiB + text encoder 288 bytes + codes 3.2 KiB + EnCodec decoder 378.9 KiB + audio 250.0 KiB), over the memory budget of 97.7 KiB. Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    columnsMessage:
      'This generate() request needs about 2.0 MiB (KV cache 154.5 KiB + cross-attention 2.3 KiB + text encoder 288 bytes + codes 3.2 KiB + EnCodec decoder 1.6 MiB + audio 250.0 KiB), over the memory budget of 97.7 KiB. Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    run: g({ frames: 100, memoryBudget: 100_000 }),
  },
  {
    input: 'stream() over budget',
    form: '`frames: 100, memoryBudget: 100_000`',
    code: 'ERR_MUSICGEN_MEMORY_BUDGET',
    message:
      'This stream() request needs about 664.1 KiB (KV cache 154.5 KiB + cross-attention 2.3 KiB + text encoder 288 bytes + codes 3.2 KiB + EnCodec decoders 378.9 KiB + buffered chunks 125.0 KiB), over the memory budget of 97.7 KiB. Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    columnsMessage:
      'This stream() request needs about 1.9 MiB (KV cache 154.5 KiB + cross-attention 2.3 KiB + text encoder 288 bytes + codes 3.2 KiB + EnCodec decoders 1.6 MiB + buffered chunks 125.0 KiB), over the memory budget of 97.7 KiB. Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    run: s({ frames: 100, memoryBudget: 100_000 }),
  },
  {
    input: 'generate() over budget',
    form: 'long-form 1 h: `duration: 3600, memoryBudget: 2 ** 28`',
    code: 'ERR_MUSICGEN_MEMORY_BUDGET',
    message:
      'This generate() request needs about 444.8 MiB (KV cache 2.2 MiB + cross-attention 2.3 KiB + text encoder 288 bytes + codes 2.8 MiB + EnCodec decoder 378.9 KiB + audio 439.5 MiB), over the memory budget of 256.0 MiB. Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    columnsMessage:
      'This generate() request needs about 446.0 MiB (KV cache 2.2 MiB + cross-attention 2.3 KiB + text encoder 288 bytes + codes 2.8 MiB + EnCodec decoder 1.6 MiB + audio 439.5 MiB), over the memory budget of 256.0 MiB. Ask for a shorter duration or fewer prompts, or raise memoryBudget (a MusicGen.load() or per-request option).',
    run: g({ duration: 3600, memoryBudget: 2 ** 28 }),
  },
  // Model lifecycle
  {
    input: 'model',
    form: 'generate() after dispose()',
    code: 'ERR_MUSICGEN_DISPOSED',
    message: 'This MusicGen model has been disposed',
    run: async () => {
      const x = await MusicGen.load(files.mono, { threads: 1 });
      x.dispose();
      return x.generate('x', { frames: 2 });
    },
  },
  {
    input: 'model',
    form: 'stream() after dispose()',
    code: 'ERR_MUSICGEN_DISPOSED',
    message: 'This MusicGen model has been disposed',
    run: async () => {
      const x = await MusicGen.load(files.mono, { threads: 1 });
      x.dispose();
      return x.stream('x', { frames: 2 });
    },
  },
  {
    input: 'model',
    form: 'tokenize() after dispose()',
    code: 'ERR_MUSICGEN_DISPOSED',
    message: 'This MusicGen model has been disposed',
    run: async () => {
      const x = await MusicGen.load(files.mono, { threads: 1 });
      x.dispose();
      return x.tokenize('x');
    },
  },
  {
    input: 'model',
    form: 'dispose() twice',
    code: null,
    message: 'accepted: dispose() is idempotent',
    run: async () => {
      const x = await MusicGen.load(files.mono, { threads: 1 });
      x.dispose();
      x.dispose();
    },
  },
  {
    input: 'model',
    form: 'dispose() while generate() runs',
    code: 'ERR_MUSICGEN_DISPOSED',
    message: 'This MusicGen model has been disposed',
    run: disposeDuringGenerate,
  },
  {
    input: 'model',
    form: 'dispose() while a stream runs',
    code: 'ERR_MUSICGEN_DISPOSED',
    message: 'This MusicGen model has been disposed',
    run: disposeDuringStream,
  },
  // Model files
  { input: 'path', form: "`''`", code: INVALID, message: 'Expected a non-empty string for path', run: load('') },
  {
    input: 'path',
    form: '`42`',
    code: INVALID,
    message: 'Expected a string for path but received 42 of type number',
    run: load(42),
  },
  {
    input: 'backend',
    form: "`'gpu'`",
    code: INVALID,
    message: "Expected one of 'auto', 'cpu', 'cuda', 'vulkan', 'metal' for backend but received 'gpu' of type string",
    run: load(files.mono, { backend: 'gpu' }),
  },
  {
    input: 'threads',
    form: '`0`',
    code: INVALID,
    message: 'Expected integer between 1 and 512 for threads but received 0 of type number',
    run: load(files.mono, { threads: 0 }),
  },
  {
    input: 'kvCache',
    form: "`'q8_0'`",
    code: INVALID,
    message: "Expected one of 'auto', 'f32', 'f16' for kvCache but received 'q8_0' of type string",
    run: load(files.mono, { kvCache: 'q8_0' }),
  },
  {
    input: 'model file',
    form: 'missing',
    code: 'ERR_MUSICGEN_MODEL_NOT_FOUND',
    message: '<tmp>/missing.gguf: no such file',
    run: load(path.join(tmp, 'missing.gguf')),
  },
  {
    input: 'model file',
    form: 'a directory',
    code: 'ERR_MUSICGEN_MODEL_NOT_FOUND',
    message: '<tmp>: is a directory, expected a .gguf file',
    run: load(tmp),
  },
  {
    input: 'model file',
    form: 'unreadable (mode 000; as root, loaded by user nobody)',
    code: 'ERR_MUSICGEN_MODEL_NOT_FOUND',
    message: '<tmp>/locked.gguf: cannot open file: Permission denied',
    run: () => (isRoot ? loadAsNobody(files.locked) : MusicGen.load(files.locked)),
  },
  {
    input: 'model file',
    form: 'empty (0 bytes)',
    code: 'ERR_MUSICGEN_MODEL_INVALID',
    message: '<tmp>/empty.gguf: not a GGUF file or corrupt header (failed to read magic)',
    run: load(files.empty),
  },
  {
    input: 'model file',
    form: 'random bytes',
    code: 'ERR_MUSICGEN_MODEL_INVALID',
    message: "<tmp>/random.gguf: not a GGUF file or corrupt header (invalid magic characters: 's9-_', expected 'GGUF')",
    run: load(files.random),
  },
  {
    input: 'model file',
    form: 'truncated in the header (first 100 000 bytes)',
    code: 'ERR_MUSICGEN_MODEL_INVALID',
    message: '<tmp>/truncated-header.gguf: not a GGUF file or corrupt header (failed to read key-value pairs)',
    run: load(files.truncatedHeader),
  },
  {
    input: 'model file',
    form: 'truncated before a metadata key ends (first 40 bytes)',
    code: 'ERR_MUSICGEN_MODEL_INVALID',
    message: '<tmp>/truncated-key.gguf: not a GGUF file or corrupt header (the file ends inside metadata key 0 of 56)',
    run: load(files.truncatedKey),
  },
  {
    input: 'model file',
    form: 'truncated in the tensor data (last 1000 bytes cut)',
    code: 'ERR_MUSICGEN_MODEL_INVALID',
    message:
      "<tmp>/truncated-data.gguf: tensor 'codec.rvq.3.codebook' data ends at byte 4931360 but the file has only 4930360 bytes (truncated file?)",
    run: load(files.truncatedData),
  },
  {
    input: 'model file',
    form: "GGUF of another architecture (`general.architecture = 'llama'`)",
    code: 'ERR_MUSICGEN_MODEL_INVALID',
    message: "<tmp>/llama.gguf: architecture 'llama' is not supported, expected 'musicgen'",
    run: load(files.llama),
  },
];

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The markdown table of ROWS, as docs/bad-input.md holds it between its markers. */
function renderTable(rows: Row[]): string {
  const lines = ['| input / option | invalid form | error code | message |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    const message = r.code === null ? r.message : `\`${r.message}\``;
    lines.push(
      `| ${escapeCell(r.input)} | ${escapeCell(r.form)} | ${r.code ?? '— (accepted)'} | ${escapeCell(message)} |`,
    );
  }
  return lines.join('\n');
}

function cells(markdown: string): string[][] {
  return markdown
    .trim()
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replace(/^:?-+:?$/, '---')),
    );
}

const START = '<!-- bad-input-table:start (generated from test/bad-input.test.ts) -->';
const END = '<!-- bad-input-table:end -->';

t.test('docs/bad-input.md holds exactly the table of this test', async (t) => {
  const text = fs.readFileSync(doc, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  t.ok(start >= 0 && end > start, 'the doc has the table markers');
  const table = renderTable(ROWS);
  if (process.env.BAD_INPUT_UPDATE_DOC === '1') {
    fs.writeFileSync(doc, `${text.slice(0, start + START.length)}\n${table}\n${text.slice(end)}`);
  }
  const current = fs.readFileSync(doc, 'utf8');
  const inDoc = current.slice(current.indexOf(START) + START.length, current.indexOf(END));
  // Cell by cell, so re-aligning the table (prettier) does not count as a change.
  t.same(cells(inDoc), cells(table));
});

for (const row of ROWS) {
  t.test(`${row.input}: ${row.form}`, async (t) => {
    let outcome: { ok: true } | { ok: false; error: unknown };
    try {
      await row.run();
      outcome = { ok: true };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (row.code === null) {
      t.ok(outcome.ok, `accepted${outcome.ok ? '' : `, but threw ${String((outcome as { error: unknown }).error)}`}`);
      return;
    }
    t.notOk(outcome.ok, 'refused');
    if (outcome.ok) return;
    const error = outcome.error as { code?: unknown; message?: unknown };
    t.equal(error.code, row.code);
    const columns = ['scalar', 'ggml'].includes(runtimeInfo().cpuKernels);
    const expected = columns && row.columnsMessage !== undefined ? row.columnsMessage : row.message;
    t.equal(String(error.message).split(tmp).join('<tmp>'), expected);
  });
}
