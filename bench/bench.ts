// npm run bench -- [--preset small[,medium,large]] [--types f16,q8_0,q4_0,q4_k] [--threads 1,2] [--frames 100]
//                  [--guidance 3] [--batch 1,2,4,8] [--no-stream] [--stream-seconds 30] [--backend cpu|cuda|vulkan]
//                  [--kv-cache auto|f32|f16]
// Measures, on random-weight checkpoints of real MusicGen shapes (made by tools/make-random-checkpoint):
// LM ms/step and steps/s with classifier-free guidance, the step's floors (bandwidth: bytes of weights read per step
// over the machine's copy bandwidth measured in the same process; on a GPU backend that of the GPU's memory,
// measured by a ggml copy there; arithmetic: the products' multiply-adds over the CPU's measured peak for the
// weights' arithmetic), step / bandwidth floor as the headline ratio, the same products alone as a diagnostic,
// T5 encode ms, EnCodec decode speed (x real time) against its floors (arithmetic: its multiply-adds per audio second
// over the CPU's f32 peak; bandwidth: the LSTM's recurrent weights read once per frame over the copy bandwidth),
// real-time factor of the whole generation, streaming
// first-chunk latency and chunk interval (default chunks), the steady-state real-time factor of a 30 s stream, load time, peak RSS and, on a GPU, the peak device memory
// the generation took (free memory polled every 10 ms against its level before the load); with --batch, LM steps/s and
// audio seconds per second for N prompts generated in one pass. Each configuration runs in its own process so
// peak RSS belongs to it. Prints tables; writes JSON with machine info under bench/results/.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MusicGen, runtimeInfo, type KvCacheType } from '../lib';
import { native } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';

const root = path.join(__dirname, '..', '..');
const PROMPTS = [
  'lofi hip hop beat with warm piano and soft drums',
  'energetic drum and bass with a deep rolling bassline',
  'calm acoustic guitar ballad with strings',
  'eighties synth pop with a bright lead and gated drums',
];
/** The copy that measures bandwidth: large against every cache, small against this machine's memory. */
const COPY_MIB = 512;

interface Floor {
  /** Bytes of weight matrices one step reads (every product of a step, weights read once). */
  weightBytesPerStep: number;
  /** Copy bandwidth measured in this process: bytes read + written per second, GB/s. */
  copyGBps: number;
  /** weightBytesPerStep over the copy bandwidth. */
  bandwidthFloorMs: number;
  /** Multiply-adds of those products per step. */
  macsPerStep: number;
  /** The CPU's multiply-add peak for the weights' arithmetic (f32 FMAs for f16/f32, 8-bit dots otherwise), G/s. */
  peakGMacs: number;
  /** macsPerStep over that peak (NaN on a GPU backend or a CPU without AVX2). */
  arithFloorMs: number;
  /** The same products alone through the step's kernels (one graph, median of repeated passes): a diagnostic. */
  productsMs: number;
  /** EnCodec decoder: multiply-adds per audio second (native/bench/decoder-floor.h). */
  decodeMacsPerSecond: number;
  /** The CPU's f32 multiply-add peak (the decoder's arithmetic is f32 whatever the file type), G/s. */
  f32PeakGMacs: number;
  /** decodeMacsPerSecond over that peak: ms of decoding per audio second at the peak (NaN on a GPU backend). */
  decodeArithFloorMsPerSecond: number;
  /** Bytes of LSTM recurrent weights one codec frame reads (a matrix-vector product per layer and frame). */
  lstmBytesPerFrame: number;
  /** Those bytes for one audio second over the copy bandwidth: ms per audio second. */
  lstmBandwidthFloorMsPerSecond: number;
}

interface Measurement extends Floor {
  backend: string;
  preset: string;
  type: string;
  /** The LM's K/V cache type the run used (--kv-cache, resolved: 'f32' or 'f16'). */
  kvCache: string;
  threads: number;
  frames: number;
  guidanceScale: number;
  loadMs: number;
  t5Ms: number;
  lmStepsPerSec: number;
  lmMsPerStep: number;
  /** lmMsPerStep / bandwidthFloorMs: the headline ratio. */
  stepOverFloor: number;
  /** Weight bytes per step / step time, GB/s. */
  achievedGBps: number;
  decodeMs: number;
  decodeTimesRealTime: number;
  /** Decode ms per audio second over decodeArithFloorMsPerSecond. */
  decodeOverFloor: number;
  realTimeFactor: number;
  firstChunkMs: number;
  interChunkMs: number;
  /** Audio seconds per wall second in the steady state of a --stream-seconds stream (after the first chunk). */
  streamRealTimeFactor: number;
  peakRssMiB: number;
  /** Device memory the whole measurement took at its peak (GPU backends; NaN on the CPU). */
  devicePeakMiB: number;
}

interface BatchMeasurement {
  preset: string;
  type: string;
  threads: number;
  frames: number;
  batch: number;
  lmMsPerStep: number;
  /** LM steps per second (each step advances all 2N guided rows). */
  lmStepsPerSec: number;
  /** N x audio seconds over the whole generate() (T5 + LM + EnCodec). */
  audioSecondsPerSec: number;
  peakRssMiB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Mean LM step time from onProgress timestamps, excluding the first step (T5 + one-time graph setup). */
function msPerStep(stepTimes: number[]): number {
  return (stepTimes.at(-1)! - stepTimes[0]!) / (stepTimes.length - 1);
}

async function measureFloor(
  model: string,
  backend: Backend,
  threads: number,
  guidance: number,
  type: string,
): Promise<Floor> {
  const bench = nativeDiagnostics();
  const handle = await native().loadModel(model, { backend, threads });
  try {
    const bytesPerSec =
      backend === 'cpu'
        ? await bench.benchCopyBandwidth(COPY_MIB, threads, 5)
        : await bench.benchDeviceCopyBandwidth(handle, COPY_MIB, 5);
    const rows = guidance > 1 ? 2 : 1;
    const products = await bench.benchLmProducts(handle, rows, 1, 5);
    const bandwidthFloorMs = (products.weightBytes / bytesPerSec) * 1000;
    const int8 = !['f16', 'f32', 'bf16'].includes(type);
    const peak = backend === 'cpu' ? bench.benchPeakMacs(int8, threads, 3) : 0;
    const decoder = bench.benchDecoderCost(handle);
    const f32Peak = backend !== 'cpu' ? 0 : int8 ? bench.benchPeakMacs(false, threads, 3) : peak;
    const lstmBytesPerSecond = decoder.lstmRecurrentBytesPerFrame * decoder.frameRate;
    return {
      weightBytesPerStep: products.weightBytes,
      copyGBps: bytesPerSec / 1e9,
      bandwidthFloorMs,
      macsPerStep: products.macs,
      peakGMacs: peak > 0 ? peak / 1e9 : NaN,
      arithFloorMs: peak > 0 ? (products.macs / peak) * 1000 : NaN,
      productsMs: products.medianMs,
      decodeMacsPerSecond: decoder.macsPerSecond,
      f32PeakGMacs: f32Peak > 0 ? f32Peak / 1e9 : NaN,
      decodeArithFloorMsPerSecond: f32Peak > 0 ? (decoder.macsPerSecond / f32Peak) * 1000 : NaN,
      lstmBytesPerFrame: decoder.lstmRecurrentBytesPerFrame,
      lstmBandwidthFloorMsPerSecond: (lstmBytesPerSecond / bytesPerSec) * 1000,
    };
  } finally {
    handle.dispose();
  }
}

type Backend = 'cpu' | 'cuda' | 'vulkan';

/** Polls every device's free memory until stopped; peakMiB(name) is the most it fell below its level at the start. */
function deviceMemoryWatch(): { stop(): void; peakMiB(device: string): number } {
  const bench = nativeDiagnostics();
  const start = new Map(bench.benchDeviceMemory().map((d) => [d.name, d.free]));
  const lowest = new Map(start);
  const poll = () => {
    for (const d of bench.benchDeviceMemory()) lowest.set(d.name, Math.min(lowest.get(d.name) ?? d.free, d.free));
  };
  const timer = setInterval(poll, 10);
  return {
    stop: () => {
      clearInterval(timer);
      poll();
    },
    peakMiB: (device) => ((start.get(device) ?? NaN) - (lowest.get(device) ?? NaN)) / 2 ** 20,
  };
}

async function measure(
  model: string,
  backend: Backend,
  preset: string,
  type: string,
  threads: number,
  frames: number,
  guidance: number,
  stream: boolean,
  streamSeconds: number,
  kvCache: KvCacheType,
): Promise<Measurement> {
  const floor = await measureFloor(model, backend, threads, guidance, type);
  const watch = backend === 'cpu' ? undefined : deviceMemoryWatch();
  let started = performance.now();
  const gen = await MusicGen.load(model, { backend, threads, kvCache });
  const loadMs = performance.now() - started;
  await gen.encodeText(PROMPTS[0]!); // warm-up: the first graph of a process pays one-time setup
  started = performance.now();
  const reps = 3;
  for (let i = 0; i < reps; i++) await gen.encodeText(PROMPTS[0]!);
  const t5Ms = (performance.now() - started) / reps;

  const stepTimes: number[] = [];
  started = performance.now();
  const result = await gen.generate(PROMPTS[0]!, {
    frames,
    guidanceScale: guidance,
    seed: 1,
    onProgress: ({ elapsedMs }) => stepTimes.push(elapsedMs),
  });
  const totalMs = performance.now() - started;
  const lmMsPerStep = msPerStep(stepTimes);
  const decodeRuns: number[] = [];
  for (let i = 0; i < 3; i++) {
    started = performance.now();
    await gen.decodeCodes(result.codes);
    decodeRuns.push(performance.now() - started);
  }
  const decodeMs = median(decodeRuns);
  const audioSeconds = frames / gen.info.frameRate;
  // Streaming at the default chunk size (0.5 s): when the first audio arrives, and the spacing after it.
  const arrivals: number[] = [];
  if (stream) {
    started = performance.now();
    for await (const chunk of gen.stream(PROMPTS[0]!, { frames, guidanceScale: guidance, seed: 1 })) {
      if (chunk.frames > 0) arrivals.push(performance.now() - started);
    }
  }
  // Steady state of a long stream (default 30 s): audio seconds delivered per wall second from the first chunk's
  // arrival to the last's, counting the audio of every chunk after the first.
  let streamRealTimeFactor = NaN;
  if (stream && streamSeconds > 0) {
    let first = NaN;
    let last = NaN;
    let audio = 0;
    started = performance.now();
    for await (const chunk of gen.stream(PROMPTS[0]!, { duration: streamSeconds, guidanceScale: guidance, seed: 1 })) {
      if (chunk.frames === 0) continue;
      const now = performance.now() - started;
      if (Number.isNaN(first)) first = now;
      else audio += chunk.frames / chunk.sampleRate;
      last = now;
    }
    streamRealTimeFactor = audio / ((last - first) / 1000);
  }
  watch?.stop();
  const device = gen.info.backend;
  const kvCacheUsed = gen.info.kvCache;
  gen.dispose();
  return {
    backend: device,
    preset,
    type,
    kvCache: kvCacheUsed,
    threads,
    frames,
    guidanceScale: guidance,
    loadMs,
    t5Ms,
    lmStepsPerSec: 1000 / lmMsPerStep,
    lmMsPerStep,
    ...floor,
    stepOverFloor: lmMsPerStep / floor.bandwidthFloorMs,
    achievedGBps: floor.weightBytesPerStep / lmMsPerStep / 1e6,
    decodeMs,
    decodeTimesRealTime: (audioSeconds * 1000) / decodeMs,
    decodeOverFloor: decodeMs / audioSeconds / floor.decodeArithFloorMsPerSecond,
    realTimeFactor: (audioSeconds * 1000) / totalMs,
    firstChunkMs: arrivals[0] ?? NaN,
    streamRealTimeFactor,
    interChunkMs: arrivals.length > 1 ? (arrivals.at(-1)! - arrivals[0]!) / (arrivals.length - 1) : NaN,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    devicePeakMiB: watch ? watch.peakMiB(device) : NaN,
  };
}

async function measureBatch(
  backend: Backend,
  model: string,
  preset: string,
  type: string,
  threads: number,
  frames: number,
  guidance: number,
  batch: number,
  kvCache: KvCacheType,
): Promise<BatchMeasurement> {
  const gen = await MusicGen.load(model, { backend, threads, kvCache });
  await gen.generate(PROMPTS[0]!, { frames: 4, guidanceScale: guidance, seed: 1 }); // warm-up
  const prompts = Array.from({ length: batch }, (_, i) => PROMPTS[i % PROMPTS.length]!);
  const stepTimes: number[] = [];
  const started = performance.now();
  await gen.generate(prompts, {
    frames,
    guidanceScale: guidance,
    seed: 1,
    onProgress: ({ elapsedMs }) => stepTimes.push(elapsedMs),
  });
  const totalMs = performance.now() - started;
  const audioSeconds = frames / gen.info.frameRate;
  gen.dispose();
  const lmMsPerStep = msPerStep(stepTimes);
  return {
    preset,
    type,
    threads,
    frames,
    batch,
    lmMsPerStep,
    lmStepsPerSec: 1000 / lmMsPerStep,
    audioSecondsPerSec: (batch * audioSeconds * 1000) / totalMs,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
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
    { stdio: 'inherit' },
  );
  return gguf;
}

/** A figure for the tables; '-' where it was not measured (NaN becomes null through the child's JSON). */
function fixed(value: number | null, digits: number): string {
  return value !== null && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function markdown(header: string[], lines: string[][]): string {
  return [header, header.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

function table(rows: Measurement[]): string {
  return markdown(
    [
      'backend',
      'preset',
      'type',
      'KV cache',
      'threads',
      'LM ms/step (CFG)',
      'steps/s',
      'weights MB/step',
      'copy GB/s',
      'bandwidth floor ms',
      'arith floor ms',
      'step / bandwidth floor',
      'products alone ms',
      'achieved GB/s',
      'T5 ms',
      'decode x RT',
      'decode arith floor ms/s',
      'decode / floor',
      'LSTM MB/frame',
      'LSTM bandwidth floor ms/s',
      'RTF',
      'first chunk ms',
      'chunk interval ms',
      'stream x RT (long)',
      'load ms',
      'peak RSS MiB',
      'device peak MiB',
    ],
    rows.map((r) => [
      r.backend,
      r.preset,
      r.type,
      r.kvCache,
      String(r.threads),
      fixed(r.lmMsPerStep, 1),
      fixed(r.lmStepsPerSec, 2),
      fixed(r.weightBytesPerStep / 1e6, 0),
      fixed(r.copyGBps, 1),
      fixed(r.bandwidthFloorMs, 1),
      fixed(r.arithFloorMs, 1),
      fixed(r.stepOverFloor, 2),
      fixed(r.productsMs, 1),
      fixed(r.achievedGBps, 1),
      fixed(r.t5Ms, 1),
      fixed(r.decodeTimesRealTime, 2),
      fixed(r.decodeArithFloorMsPerSecond, 1),
      fixed(r.decodeOverFloor, 2),
      fixed(r.lstmBytesPerFrame / 1e6, 1),
      fixed(r.lstmBandwidthFloorMsPerSecond, 1),
      fixed(r.realTimeFactor, 3),
      fixed(r.firstChunkMs, 0),
      fixed(r.interChunkMs, 0),
      fixed(r.streamRealTimeFactor, 2),
      fixed(r.loadMs, 0),
      fixed(r.peakRssMiB, 0),
      fixed(r.devicePeakMiB, 0),
    ]),
  );
}

function batchTable(rows: BatchMeasurement[]): string {
  return markdown(
    ['preset', 'type', 'threads', 'N', 'LM ms/step (2N rows)', 'steps/s', 'audio s/s', 'peak RSS MiB'],
    rows.map((r) => [
      r.preset,
      r.type,
      String(r.threads),
      String(r.batch),
      fixed(r.lmMsPerStep, 1),
      fixed(r.lmStepsPerSec, 2),
      fixed(r.audioSecondsPerSec, 3),
      fixed(r.peakRssMiB, 0),
    ]),
  );
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function runChild(args: string[], what: string): unknown {
  const child = spawnSync(process.execPath, [__filename, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (child.status !== 0) throw new Error(`bench: ${what} failed (exit ${child.status})`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'small' },
      types: { type: 'string', default: 'f16,q8_0' },
      threads: { type: 'string', default: '1,2' },
      frames: { type: 'string', default: '50' },
      guidance: { type: 'string', default: '3' },
      batch: { type: 'string', default: '' },
      'no-stream': { type: 'boolean', default: false },
      'stream-seconds': { type: 'string', default: '30' },
      'kv-cache': { type: 'string', default: 'auto' },
      backend: { type: 'string', default: 'cpu' },
      child: { type: 'string' },
    },
  });
  const frames = Number(values.frames);
  const guidance = Number(values.guidance);
  const stream = !values['no-stream'];
  const backend = values.backend as Backend;
  if (!['cpu', 'cuda', 'vulkan'].includes(backend)) throw new Error(`bench: --backend ${backend}: cpu, cuda or vulkan`);
  const kvCache = values['kv-cache'] as KvCacheType;
  if (!['auto', 'f32', 'f16'].includes(kvCache)) throw new Error(`bench: --kv-cache ${kvCache}: auto, f32 or f16`);
  if (values.child) {
    const [mode, model, preset, type, threads, batch] = values.child.split('|') as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const m =
      mode === 'batch'
        ? await measureBatch(backend, model, preset, type, Number(threads), frames, guidance, Number(batch), kvCache)
        : await measure(
            model,
            backend,
            preset,
            type,
            Number(threads),
            frames,
            guidance,
            stream,
            Number(values['stream-seconds']),
            kvCache,
          );
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return;
  }
  const rows: Measurement[] = [];
  const batchRows: BatchMeasurement[] = [];
  const passOn = process.argv.slice(2);
  for (const preset of list(values.preset)) {
    for (const type of list(values.types)) {
      const model = ensureModel(preset, type);
      for (const threads of list(values.threads)) {
        const what = `${preset} ${type} x ${threads} threads`;
        rows.push(
          runChild([...passOn, '--child', `step|${model}|${preset}|${type}|${threads}|1`], what) as Measurement,
        );
        console.error(`bench: ${what} done`);
        for (const n of list(values.batch)) {
          batchRows.push(
            runChild(
              [...passOn, '--child', `batch|${model}|${preset}|${type}|${threads}|${n}`],
              `${what}, batch ${n}`,
            ) as BatchMeasurement,
          );
          console.error(`bench: ${what}, batch ${n} done`);
        }
      }
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
  const command = `npm run bench -- ${passOn.join(' ')}`.trim();
  const date = new Date().toISOString();
  console.log(`\nMusicGen (random weights, real shapes), ${frames} frames, CFG ${guidance}, backend ${backend}`);
  console.log(
    `${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}, ggml ${machine.ggml}, ` +
      `${machine.addon.build} build (${path.relative(root, machine.addon.addon)})\n`,
  );
  console.log(table(rows));
  if (batchRows.length > 0) console.log(`\n${batchTable(batchRows)}`);
  const name = [list(values.preset).join('+'), ...(backend === 'cpu' ? [] : [backend])].join('-');
  const out = path.join(root, 'bench', 'results', `${name}-${date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date, command, machine, results: rows, batch: batchRows }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
