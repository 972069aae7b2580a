// npm run bench -- [--preset small] [--types f16,q8_0] [--threads 1,2] [--frames 100] [--guidance 3]
// Measures, on a random-weight checkpoint of a real MusicGen shape (made by tools/make-random-checkpoint):
// LM steps/s with classifier-free guidance, T5 encode ms, EnCodec decode speed (x real time), real-time
// factor of the whole generation, streaming first-chunk latency and chunk interval (0.5 s chunks), load time
// and peak RSS. Each configuration runs in its own process so
// peak RSS belongs to it. Prints a table; writes JSON with machine info under bench/results/.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MusicGen, runtimeInfo } from '../lib';
import { native } from '../lib/native';

const root = path.join(__dirname, '..', '..');
const PROMPT = 'lofi hip hop beat with warm piano and soft drums';

interface Measurement {
  preset: string;
  type: string;
  threads: number;
  frames: number;
  guidanceScale: number;
  loadMs: number;
  t5Ms: number;
  lmStepsPerSec: number;
  lmMsPerStep: number;
  decodeMs: number;
  decodeTimesRealTime: number;
  realTimeFactor: number;
  firstChunkMs: number;
  interChunkMs: number;
  peakRssMiB: number;
}

async function measure(model: string, preset: string, type: string, threads: number, frames: number, guidance: number) {
  let started = performance.now();
  const gen = await MusicGen.load(model, { backend: 'cpu', threads });
  const loadMs = performance.now() - started;
  await gen.encodeText(PROMPT); // warm-up: the first graph of a process pays one-time setup
  started = performance.now();
  const reps = 3;
  for (let i = 0; i < reps; i++) await gen.encodeText(PROMPT);
  const t5Ms = (performance.now() - started) / reps;

  const stepTimes: number[] = [];
  started = performance.now();
  const result = await gen.generate(PROMPT, {
    frames,
    guidanceScale: guidance,
    seed: 1,
    onProgress: ({ elapsedMs }) => stepTimes.push(elapsedMs),
  });
  const totalMs = performance.now() - started;
  // Steps after the first: excludes T5 and the one-time graph reservation of the first step.
  const lmMsPerStep = (stepTimes.at(-1)! - stepTimes[0]!) / (stepTimes.length - 1);
  started = performance.now();
  await gen.decodeCodes(result.codes);
  const decodeMs = performance.now() - started;
  const audioSeconds = frames / gen.info.frameRate;
  // Streaming at the default chunk size (0.5 s): when the first audio arrives, and the spacing after it.
  const arrivals: number[] = [];
  started = performance.now();
  for await (const chunk of gen.stream(PROMPT, { frames, guidanceScale: guidance, seed: 1 })) {
    if (chunk.frames > 0) arrivals.push(performance.now() - started);
  }
  const firstChunkMs = arrivals[0]!;
  const interChunkMs = arrivals.length > 1 ? (arrivals.at(-1)! - firstChunkMs) / (arrivals.length - 1) : NaN;
  gen.dispose();
  const m: Measurement = {
    preset,
    type,
    threads,
    frames,
    guidanceScale: guidance,
    loadMs,
    t5Ms,
    lmStepsPerSec: 1000 / lmMsPerStep,
    lmMsPerStep,
    decodeMs,
    decodeTimesRealTime: (audioSeconds * 1000) / decodeMs,
    realTimeFactor: (audioSeconds * 1000) / totalMs,
    firstChunkMs,
    interChunkMs,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  return m;
}

function ensureModel(preset: string, type: string): string {
  const cache = path.join(root, 'bench', '.cache');
  const checkpoint = path.join(cache, preset);
  const gguf = path.join(cache, `${preset}-${type}.gguf`);
  if (fs.existsSync(gguf)) return gguf;
  if (!fs.existsSync(path.join(checkpoint, 'config.json'))) {
    console.error(`bench: writing a random-weight ${preset} checkpoint to ${checkpoint} ...`);
    execFileSync(
      process.execPath,
      [
        path.join(root, 'dist', 'tools', 'make-random-checkpoint.js'),
        '--preset',
        preset,
        '-o',
        checkpoint,
        '--dtype',
        'f16',
        '--force',
      ],
      { stdio: 'inherit' },
    );
  }
  console.error(`bench: converting to ${type} ...`);
  execFileSync(
    process.execPath,
    [path.join(root, 'dist', 'convert', 'cli.js'), checkpoint, '-o', gguf, '--type', type],
    {
      stdio: 'inherit',
    },
  );
  return gguf;
}

function table(rows: Measurement[]): string {
  const header = [
    'type',
    'threads',
    'LM ms/step (CFG)',
    'steps/s',
    'T5 ms',
    'decode x RT',
    'RTF',
    'first chunk ms',
    'chunk interval ms',
    'load ms',
    'peak RSS MiB',
  ];
  const lines = rows.map((r) => [
    r.type,
    String(r.threads),
    r.lmMsPerStep.toFixed(1),
    r.lmStepsPerSec.toFixed(2),
    r.t5Ms.toFixed(1),
    r.decodeTimesRealTime.toFixed(2),
    r.realTimeFactor.toFixed(3),
    r.firstChunkMs.toFixed(0),
    r.interChunkMs.toFixed(0),
    r.loadMs.toFixed(0),
    r.peakRssMiB.toFixed(0),
  ]);
  return [header, header.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'small' },
      types: { type: 'string', default: 'f16,q8_0' },
      threads: { type: 'string', default: '1,2' },
      frames: { type: 'string', default: '50' },
      guidance: { type: 'string', default: '3' },
      child: { type: 'string' },
    },
  });
  const frames = Number(values.frames);
  const guidance = Number(values.guidance);
  if (values.child) {
    const [model, type, threads] = values.child.split('|') as [string, string, string];
    const m = await measure(model, values.preset, type, Number(threads), frames, guidance);
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return;
  }
  const rows: Measurement[] = [];
  for (const type of values.types.split(',')) {
    const model = ensureModel(values.preset, type);
    for (const threads of values.threads.split(',').map(Number)) {
      const child = spawnSync(
        process.execPath,
        [__filename, ...process.argv.slice(2), '--child', `${model}|${type}|${threads}`],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      if (child.status !== 0) throw new Error(`bench: ${type} x ${threads} threads failed (exit ${child.status})`);
      rows.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Measurement);
      console.error(`bench: ${type}, ${threads} thread(s) done`);
    }
  }
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()}-${os.arch()}`,
    node: process.version,
    ggml: native().ggmlVersion,
    // Which addon ran: a portable prebuild (run-time CPU variant) or a native source build, and its CPU features.
    addon: runtimeInfo(),
  };
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const date = new Date().toISOString();
  console.log(
    `\nMusicGen ${values.preset} (random weights, real shapes), ${frames} frames, CFG ${guidance}, CPU backend`,
  );
  console.log(
    `${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}, ggml ${machine.ggml}, ` +
      `${machine.addon.build} build (${path.relative(root, machine.addon.addon)})\n`,
  );
  console.log(table(rows));
  const out = path.join(root, 'bench', 'results', `${values.preset}-${date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date, command, machine, results: rows }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
