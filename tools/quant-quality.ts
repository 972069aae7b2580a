#!/usr/bin/env node
/**
 * npm run quant-quality -- [--json out.json] [--fixtures DIR] [--types f32,f16,q8_0,q4_0,q4_k] [--threads N]
 * npm run quant-quality -- --checkpoint DIR [--steps N] [--gguf-dir DIR] [--json out.json] [--types ...] [--threads N]
 * Quality cost of quantisation, reported, never asserted: every MusicGen LM checkpoint found in the fixtures folder
 * is converted to each type, and its teacher-forced guided logits and greedy codes are compared with the f32 GGUF
 * and with the Hugging Face goldens. Prints markdown tables, writes JSON; exits 1 on any error.
 *
 * --checkpoint measures one HF checkpoint without goldens instead (e.g. a random-weight musicgen-small, whose real
 * widths quantise every matrix): teacher-forced guided logits over pseudo-random codes (seed CHECKPOINT_SEED, N
 * positions) and N greedy LM steps, both with one prompt and CFG 3, compared with the f32 GGUF only. --gguf-dir
 * keeps the converted GGUFs (`<checkpoint name>-<type>.gguf`) and reuses those already there without checking them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { convertCheckpoint } from '../convert/convert';
import { OUTPUT_TYPES, type OutputType } from '../convert/quant-policy';
import { generateCodes } from '../lib/generation-job';
import { native, type NativeChromaFeatures, type NativeModel } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { FIXTURES, numberIn, promptsOf } from '../test/helpers/fixture';
import { readNpy, type NpyArray } from '../test/helpers/npy';

export interface LogitError {
  maxAbs: number;
  rms: number;
  /** rms / RMS of the reference logits. */
  relRms: number;
  /** Fraction of positions (rows of `vocab` logits) whose argmax equals the reference's. */
  top1: number;
  positions: number;
}

export interface CodeAgreement {
  /** Fraction of identical generated codes (audio-prompt frames excluded: they are copied, not generated). */
  agreement: number;
  identical: number;
  total: number;
  /** 0-based LM step of the earliest differing code, null when all agree. */
  firstDivergentStep: number | null;
  steps: number;
}

export interface TypeReport {
  type: OutputType;
  ggufBytes: number;
  /** Fraction of tensor bytes stored as each ggml type: all tensors, and outside codec.* (what the logits use). */
  bytesByType: Record<string, number>;
  logitPathBytesByType: Record<string, number>;
  teacherForced: { vsF32: LogitError; vsGolden: LogitError | null };
  /** vsGolden is null in --checkpoint mode (no goldens). */
  greedy: Array<{ run: string; vsF32: CodeAgreement; vsGolden: CodeAgreement | null }>;
}

export interface FixtureReport {
  fixture: string;
  /** Where the teacher-forced decoder ids come from and the golden logits compared with (null: none). */
  teacherForced: { ids: string; golden: string | null; guidanceScale: number };
  greedyRuns: Array<{ run: string; guidanceScale: number; newFrames: number; promptFrames: number; steps: number }>;
  types: TypeReport[];
}

/** Top-level folders holding a MusicGen (text or melody) checkpoint with a golden manifest. */
export function discoverFixtures(root: string = FIXTURES): string[] {
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(root, e.name))
    .filter((dir) => {
      const config = path.join(dir, 'config.json');
      if (!fs.existsSync(config) || !fs.existsSync(path.join(dir, 'manifest.json'))) return false;
      const type = (JSON.parse(fs.readFileSync(config, 'utf8')) as { model_type?: string }).model_type;
      return type === 'musicgen' || type === 'musicgen_melody';
    })
    .sort();
}

export function compareLogits(actual: Float32Array, reference: Float32Array, vocab: number): LogitError {
  if (actual.length !== reference.length || actual.length % vocab !== 0)
    throw new Error(`logit size mismatch: ${actual.length} vs ${reference.length} (vocab ${vocab})`);
  let maxAbs = 0;
  let sq = 0;
  let refSq = 0;
  let top1 = 0;
  const positions = actual.length / vocab;
  for (let r = 0; r < positions; r++) {
    let a = r * vocab;
    let b = r * vocab;
    for (let i = r * vocab; i < (r + 1) * vocab; i++) {
      const x = actual[i]!;
      const y = reference[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error(`non-finite logit at ${i}: ${x} vs ${y}`);
      maxAbs = Math.max(maxAbs, Math.abs(x - y));
      sq += (x - y) ** 2;
      refSq += y * y;
      if (x > actual[a]!) a = i;
      if (y > reference[b]!) b = i;
    }
    if (a === b) top1++;
  }
  const rms = Math.sqrt(sq / actual.length);
  return { maxAbs, rms, relRms: rms / Math.sqrt(refSq / actual.length), top1: top1 / positions, positions };
}

/**
 * Codes [B, K, frames] row-major; frames before `promptFrames` are skipped. The code of codebook k at frame j
 * is decided at LM step (j - promptFrames) + delay(k), delay = k / channels (stereo pairs share a delay).
 */
export function compareCodes(
  actual: ArrayLike<number>,
  reference: ArrayLike<number>,
  shape: { batch: number; codebooks: number; frames: number; promptFrames: number; channels: number },
): CodeAgreement {
  const { batch, codebooks, frames, promptFrames, channels } = shape;
  if (actual.length !== reference.length || actual.length !== batch * codebooks * frames)
    throw new Error(`code size mismatch: ${actual.length} vs ${reference.length}`);
  let identical = 0;
  let total = 0;
  let first: number | null = null;
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < codebooks; k++) {
      for (let j = promptFrames; j < frames; j++) {
        const i = (b * codebooks + k) * frames + j;
        total++;
        if (actual[i] === reference[i]) identical++;
        else {
          const step = j - promptFrames + Math.floor(k / channels);
          first = first === null ? step : Math.min(first, step);
        }
      }
    }
  }
  const steps = frames - promptFrames + codebooks / channels - 1;
  return { agreement: identical / total, identical, total, firstDivergentStep: first, steps };
}

interface GreedyRun {
  run: string;
  guidanceScale: number;
  shape: number[];
  /** Golden codes; null without goldens (--checkpoint). */
  expected: number[] | null;
  newFrames: number;
  promptFrames: number;
  /** Audio-prompt codes: the golden output's leading frames (HF returns prompt + new frames). */
  promptCodes?: { data: Int32Array; frames: number };
  chroma?: NativeChromaFeatures[];
}

interface TeacherForcing {
  ids: Int32Array;
  source: string;
  golden: Float32Array | null;
  goldenName: string | null;
  guidanceScale: number;
  chroma?: NativeChromaFeatures[];
}

/** Goldens, prompts and the runs a fixture's manifest defines, read from the manifest's own descriptions. */
function readFixture(dir: string) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    arrays: Array<{ name: string; description: string }>;
  };
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
    model_type: string;
    decoder: { audio_channels?: number };
  };
  const has = (name: string) => manifest.arrays.some((a) => a.name === name);
  const describe = (name: string) => {
    const entry = manifest.arrays.find((a) => a.name === name);
    if (!entry) throw new Error(`${dir}: manifest has no ${name}`);
    return entry.description;
  };
  const golden = (name: string): NpyArray => readNpy(path.join(dir, 'goldens', `${name}.npy`));
  const melody = config.model_type === 'musicgen_melody';
  const channels = config.decoder.audio_channels ?? 1;
  // Melody runs whose processor call got audio use its chroma one-hots (golden input_features [B, frames, 12]).
  const chroma = (): NativeChromaFeatures[] => {
    const f = golden('input_features');
    const [B, frames, bins] = f.shape as [number, number, number];
    const data = f.data as Float32Array;
    return Array.from({ length: B }, (_, b) => ({
      data: data.slice(b * frames * bins, (b + 1) * frames * bins),
      frames,
    }));
  };
  const withAudio = (description: string) => /processor\(audio=/.test(description);

  const greedy: GreedyRun[] = manifest.arrays
    .filter((a) => a.name.endsWith('_codes') && /model\.generate\(.*do_sample=False/.test(a.description))
    .map(({ name, description }) => {
      const codes = golden(name);
      const [B, K, frames] = codes.shape as [number, number, number];
      // HF returns prompt frames + max_new_tokens + 1 - (K / channels) new frames
      // (docs/reference-notes.md §6, §9, §12).
      const newFrames = numberIn(description, /max_new_tokens=(\d+)/) + 1 - K / channels;
      const promptFrames = frames - newFrames;
      if (newFrames < 1 || promptFrames < 0) throw new Error(`${name}: cannot derive frames from ${codes.shape}`);
      const run: GreedyRun = {
        run: name.replace(/_codes$/, ''),
        guidanceScale: numberIn(description, /guidance_scale=([\d.]+)/),
        shape: codes.shape,
        expected: codes.data as number[],
        newFrames,
        promptFrames,
      };
      if (promptFrames > 0) {
        const data = new Int32Array(B * K * promptFrames);
        for (let r = 0; r < B * K; r++) {
          for (let j = 0; j < promptFrames; j++) data[r * promptFrames + j] = run.expected![r * frames + j]!;
        }
        run.promptCodes = { data, frames: promptFrames };
      }
      if (melody && withAudio(description)) run.chroma = chroma();
      return run;
    });

  // Teacher forcing over the fixture's own decoder ids and golden logits when it has them, else over the first
  // greedy run's delayed sequence (all but its last column), compared with the f32 GGUF only.
  let tf: TeacherForcing;
  if (has('tf_decoder_input_ids') && has('tf_logits_guided')) {
    tf = {
      ids: Int32Array.from(golden('tf_decoder_input_ids').data as number[]),
      source: 'tf_decoder_input_ids',
      golden: golden('tf_logits_guided').data as Float32Array,
      goldenName: 'tf_logits_guided',
      guidanceScale: numberIn(describe('tf_logits_guided'), /\* ([\d.]+)/),
      chroma: melody && has('input_features') ? chroma() : undefined,
    };
  } else {
    const first = greedy[0];
    if (!first) throw new Error(`${dir}: neither teacher-forced goldens nor a greedy run to teacher-force`);
    const delayed = golden(`${first.run}_delayed_sequence`);
    const [B, K, L] = delayed.shape as [number, number, number];
    const ids = new Int32Array(B * K * (L - 1));
    for (let r = 0; r < B * K; r++) {
      for (let s = 0; s < L - 1; s++) ids[r * (L - 1) + s] = delayed.data[r * L + s] as number;
    }
    const source = `${first.run}_delayed_sequence`;
    tf = { ids, source, golden: null, goldenName: null, guidanceScale: first.guidanceScale, chroma: first.chroma };
  }
  return { prompts: promptsOf(describe('text_input_ids')), channels, greedy, tf };
}

type Workload = ReturnType<typeof readFixture>;

/** --checkpoint mode: the seed of its pseudo-random teacher-forcing codes, its prompt and guidance scale. */
export const CHECKPOINT_SEED = 20261121;
export const CHECKPOINT_PROMPT = '80s synthwave, driving bass and bright arpeggios';
export const CHECKPOINT_GUIDANCE = 3;

/** mulberry32: a small deterministic PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Delayed decoder ids [batch, codebooks, positions] over pseudo-random codes, laid out as generate() and the
 * fixtures' tf_decoder_input_ids: row k holds codes[k, s - k - 1] at position s (the code of codebook k at frame
 * j is delayed by k, after the BOS column), `pad` (= BOS) elsewhere. Delays are per channel pair for stereo
 * (k / channels), as in generation. Needs positions > codebooks / channels.
 */
export function pseudoRandomDelayedIds(
  shape: { batch: number; codebooks: number; positions: number; channels: number; vocab: number; pad: number },
  seed: number = CHECKPOINT_SEED,
): Int32Array {
  const { batch, codebooks, positions, channels, vocab, pad } = shape;
  const delays = codebooks / channels;
  const frames = positions - delays;
  if (!Number.isInteger(delays) || frames < 1)
    throw new Error(`need more than ${delays} positions for ${codebooks} codebooks / ${channels} channels`);
  const random = mulberry32(seed);
  const ids = new Int32Array(batch * codebooks * positions).fill(pad);
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < codebooks; k++) {
      const delay = Math.floor(k / channels);
      for (let j = 0; j < frames; j++) {
        ids[(b * codebooks + k) * positions + j + delay + 1] = Math.floor(random() * vocab);
      }
    }
  }
  return ids;
}

/** The --checkpoint workload: no goldens, one prompt, CFG 3, `steps` teacher-forced positions and greedy steps. */
function checkpointWorkload(dir: string, steps: number): Workload {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
    model_type: string;
    decoder: { audio_channels?: number; num_codebooks: number; vocab_size: number; pad_token_id?: number };
  };
  if (config.model_type !== 'musicgen') throw new Error(`${dir}: --checkpoint takes a text-to-music (musicgen) model`);
  const channels = config.decoder.audio_channels ?? 1;
  const codebooks = config.decoder.num_codebooks;
  const vocab = config.decoder.vocab_size;
  const pad = config.decoder.pad_token_id ?? vocab;
  const delays = codebooks / channels;
  // steps = newFrames + delays - 1 LM steps (see compareCodes).
  const newFrames = steps + 1 - delays;
  if (newFrames < 1) throw new Error(`--steps must be at least ${delays} for ${codebooks} codebooks`);
  const ids = pseudoRandomDelayedIds({ batch: 1, codebooks, positions: steps, channels, vocab, pad });
  const run = `greedy_cfg${CHECKPOINT_GUIDANCE}`;
  return {
    prompts: [CHECKPOINT_PROMPT],
    channels,
    greedy: [
      {
        run,
        guidanceScale: CHECKPOINT_GUIDANCE,
        shape: [1, codebooks, newFrames],
        expected: null,
        newFrames,
        promptFrames: 0,
      },
    ],
    tf: {
      ids,
      source: `pseudo-random codes, seed ${CHECKPOINT_SEED}`,
      golden: null,
      goldenName: null,
      guidanceScale: CHECKPOINT_GUIDANCE,
    },
  };
}

function byteFractions(file: string, include: (name: string) => boolean): Record<string, number> {
  const bytes: Record<string, number> = {};
  let total = 0;
  for (const t of native().inspect(file).tensors) {
    if (!include(t.name)) continue;
    const type = t.type.toLowerCase();
    bytes[type] = (bytes[type] ?? 0) + t.bytes;
    total += t.bytes;
  }
  for (const type of Object.keys(bytes)) bytes[type]! /= total;
  return bytes;
}

export interface MeasureOptions {
  types?: readonly OutputType[];
  threads?: number;
  log?: (message: string) => void;
  /** Keep the GGUFs here (`<name>-<type>.gguf`), reusing those that exist; default: a temporary folder. */
  ggufDir?: string;
}

export async function measureFixture(dir: string, options: MeasureOptions = {}): Promise<FixtureReport> {
  return measureWorkload(dir, readFixture(dir), options);
}

/**
 * One checkpoint without goldens (--checkpoint): `steps` (default 50) teacher-forced positions over pseudo-random
 * codes and `steps` greedy LM steps, one prompt, CFG 3, compared with the f32 GGUF only (vsGolden null).
 */
export async function measureCheckpoint(
  dir: string,
  options: MeasureOptions & { steps?: number } = {},
): Promise<FixtureReport> {
  return measureWorkload(dir, checkpointWorkload(dir, options.steps ?? 50), options);
}

async function measureWorkload(dir: string, workload: Workload, options: MeasureOptions): Promise<FixtureReport> {
  const types = options.types ?? OUTPUT_TYPES;
  const log = options.log ?? (() => {});
  const { prompts, channels, greedy, tf } = workload;
  const name = path.basename(dir);
  if (options.ggufDir) fs.mkdirSync(options.ggufDir, { recursive: true });
  const tmp = options.ggufDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-quant-quality-'));
  const load = (file: string) => native().loadModel(file, { backend: 'cpu', threads: options.threads ?? 2 });
  const run = async (model: NativeModel) => {
    const forward = await nativeDiagnostics().lmForward(model, prompts, tf.ids, tf.guidanceScale, tf.chroma);
    const codes: number[][] = [];
    for (const g of greedy) {
      const opts = { frames: g.newFrames, topK: 1, guidanceScale: g.guidanceScale };
      const out = await generateCodes(model, prompts, opts, g.promptCodes, g.chroma);
      codes.push(out.flatMap((r) => Array.from(r.data)));
    }
    return { logits: forward.guided, vocab: forward.vocab, codes };
  };
  try {
    const files: Partial<Record<OutputType, string>> = {};
    const convert = async (type: OutputType) => {
      files[type] ??= path.join(tmp, `${name}-${type}.gguf`);
      if (!fs.existsSync(files[type])) {
        log(`${name}: converting to ${type}`);
        await convertCheckpoint(dir, files[type], { type });
      }
      return files[type];
    };
    // The reference is its own load and run of the f32 file, so the f32 row below measures repeatability too.
    const refModel = await load(await convert('f32'));
    const reference = await run(refModel).finally(() => refModel.dispose());

    const reports: TypeReport[] = [];
    for (const type of types) {
      log(`${name}: ${type}`);
      const file = await convert(type);
      const model = await load(file);
      const out = await run(model).finally(() => model.dispose());
      reports.push({
        type,
        ggufBytes: fs.statSync(file).size,
        bytesByType: byteFractions(file, () => true),
        logitPathBytesByType: byteFractions(file, (t) => !t.startsWith('codec.')),
        teacherForced: {
          vsF32: compareLogits(out.logits, reference.logits, out.vocab),
          vsGolden: tf.golden ? compareLogits(out.logits, tf.golden, out.vocab) : null,
        },
        greedy: greedy.map((g, i) => {
          const [batch, codebooks, frames] = g.shape as [number, number, number];
          const shape = { batch, codebooks, frames, promptFrames: g.promptFrames, channels };
          return {
            run: g.run,
            vsF32: compareCodes(out.codes[i]!, reference.codes[i]!, shape),
            vsGolden: g.expected ? compareCodes(out.codes[i]!, g.expected, shape) : null,
          };
        }),
      });
    }
    return {
      fixture: name,
      teacherForced: { ids: tf.source, golden: tf.goldenName, guidanceScale: tf.guidanceScale },
      greedyRuns: greedy.map((g) => ({
        run: g.run,
        guidanceScale: g.guidanceScale,
        newFrames: g.newFrames,
        promptFrames: g.promptFrames,
        steps: g.newFrames + g.shape[1]! / channels - 1,
      })),
      types: reports,
    };
  } finally {
    if (!options.ggufDir) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const exp = (x: number) => (x === 0 ? '0' : x.toExponential(2));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const fractions = (f: Record<string, number>) =>
  Object.entries(f)
    .sort((a, b) => b[1] - a[1])
    .map(([t, x]) => `${t} ${pct(x)}`)
    .join(', ');
const codes = (c: CodeAgreement | null) =>
  c === null
    ? 'n/a'
    : `${pct(c.agreement)} (${c.identical}/${c.total}), ${c.firstDivergentStep === null ? '-' : c.firstDivergentStep}`;

export function markdown(reports: FixtureReport[]): string {
  const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  const head = (cells: string[]) => [row(cells), row(cells.map(() => '---'))];
  const lines: string[] = ['### Weights actually stored per type', ''];
  lines.push(...head(['fixture', 'type', 'GGUF bytes', 'all tensors (bytes)', 'outside codec.* (logit path)']));
  for (const r of reports) {
    for (const t of r.types) {
      lines.push(row([r.fixture, t.type, t.ggufBytes, fractions(t.bytesByType), fractions(t.logitPathBytesByType)]));
    }
  }
  lines.push('', '### Teacher-forced guided logits', '');
  lines.push('vs f32 GGUF: max abs / RMS / rel RMS / top-1; vs HF golden: the same with an HF prefix.', '');
  const columns = ['max abs', 'RMS', 'rel RMS', 'top-1'];
  lines.push(...head(['fixture (ids)', 'type', 'positions', ...columns, ...columns.map((c) => `HF ${c}`)]));
  for (const r of reports) {
    for (const t of r.types) {
      const { vsF32: a, vsGolden: g } = t.teacherForced;
      lines.push(
        row([
          `${r.fixture} (${r.teacherForced.ids})`,
          t.type,
          a.positions,
          exp(a.maxAbs),
          exp(a.rms),
          exp(a.relRms),
          pct(a.top1),
          g ? exp(g.maxAbs) : 'n/a',
          g ? exp(g.rms) : 'n/a',
          g ? exp(g.relRms) : 'n/a',
          g ? pct(g.top1) : 'n/a',
        ]),
      );
    }
  }
  lines.push('', '### Greedy codes: identical fraction (identical/total), first divergent LM step', '');
  lines.push(...head(['fixture', 'run (steps)', 'type', 'vs f32 GGUF', 'vs HF golden']));
  for (const r of reports) {
    for (const [i, g] of r.greedyRuns.entries()) {
      for (const t of r.types) {
        const c = t.greedy[i]!;
        lines.push(row([r.fixture, `${g.run} (${g.steps})`, t.type, codes(c.vsF32), codes(c.vsGolden)]));
      }
    }
  }
  return lines.join('\n');
}

export interface CliOptions {
  json?: string;
  types: OutputType[];
  threads: number;
  /** Fixture mode: the folder searched for fixture checkpoints. */
  fixtures: string;
  /** --checkpoint mode: the HF checkpoint folder, the steps, where GGUFs are kept. */
  checkpoint?: { dir: string; steps: number; ggufDir?: string };
}

export function parseOptions(args: string[]): CliOptions {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: 'string' },
      fixtures: { type: 'string' },
      types: { type: 'string' },
      threads: { type: 'string' },
      checkpoint: { type: 'string' },
      steps: { type: 'string' },
      'gguf-dir': { type: 'string' },
    },
  });
  const types = (values.types?.split(',') ?? [...OUTPUT_TYPES]) as OutputType[];
  const unknown = types.filter((t) => !(OUTPUT_TYPES as readonly string[]).includes(t));
  if (unknown.length) throw new Error(`unknown --types ${unknown.join(', ')} (expected ${OUTPUT_TYPES.join(', ')})`);
  const integer = (name: string, value: string | undefined, fallback: number) => {
    const n = value === undefined ? fallback : Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const threads = integer('threads', values.threads, 2);
  const options: CliOptions = { json: values.json, types, threads, fixtures: values.fixtures ?? FIXTURES };
  if (values.checkpoint === undefined) {
    for (const name of ['steps', 'gguf-dir'] as const) {
      if (values[name] !== undefined) throw new Error(`--${name} needs --checkpoint`);
    }
    return options;
  }
  if (values.fixtures !== undefined) throw new Error('--fixtures and --checkpoint exclude each other');
  const steps = integer('steps', values.steps, 50);
  options.checkpoint = { dir: values.checkpoint, steps, ggufDir: values['gguf-dir'] };
  return options;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { types, threads, checkpoint } = options;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const reports: FixtureReport[] = [];
  if (checkpoint) {
    reports.push(await measureCheckpoint(checkpoint.dir, { types, threads, log, ...checkpoint }));
  } else {
    const dirs = discoverFixtures(options.fixtures);
    if (dirs.length === 0) throw new Error(`no MusicGen fixture checkpoints in ${options.fixtures}`);
    for (const dir of dirs) reports.push(await measureFixture(dir, { types, threads, log }));
  }
  process.stdout.write(`${markdown(reports)}\n`);
  if (options.json) {
    const machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, ggml: native().ggmlVersion };
    const addon = process.env.MUSICGEN_NATIVE_ADDON ?? null;
    const json = checkpoint
      ? {
          date: new Date().toISOString(),
          machine,
          addon,
          threads,
          checkpoint: {
            dir: path.resolve(checkpoint.dir),
            steps: checkpoint.steps,
            seed: CHECKPOINT_SEED,
            prompt: CHECKPOINT_PROMPT,
            guidanceScale: CHECKPOINT_GUIDANCE,
            reference: 'f32 GGUF of the same checkpoint (no HF goldens)',
          },
          fixtures: reports,
        }
      : { date: new Date().toISOString(), machine, addon, threads, fixtures: reports };
    fs.writeFileSync(options.json, `${JSON.stringify(json, null, 2)}\n`);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}
