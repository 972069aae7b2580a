// npm run build:ts && node dist/bench/decode-bench.js [--model bench/.cache/small-f16.gguf] [--threads 2]
//   [--frames 500] [--reps 5] [--chunk 25]
// EnCodec decode speed alone (x real time = audio seconds / decode seconds), whole clip (decodeCodes) and streaming
// (the stream decoder fed `chunk` frames per push, as gen.stream() does), on random codes. Prints every repetition
// and the median (the two modes alternate): the development machine is shared, so single runs are noisy. Also the
// decoder's floors per audio second: its multiply-adds over the CPU's f32 peak on these threads, and the LSTM's
// recurrent weights (read once per frame) over the copy bandwidth, and each run's median over the arithmetic floor.
// The model comes from `npm run bench` (bench/.cache).
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { native } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';

const root = path.join(__dirname, '..', '..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: path.join(root, 'bench', '.cache', 'small-f16.gguf') },
      threads: { type: 'string', default: '2' },
      frames: { type: 'string', default: '500' },
      reps: { type: 'string', default: '5' },
      chunk: { type: 'string', default: '25' },
      mode: { type: 'string', default: 'both' },
    },
  });
  const frames = Number(values.frames);
  const reps = Number(values.reps);
  const chunk = Number(values.chunk);
  const model = await native().loadModel(values.model, { backend: 'cpu', threads: Number(values.threads) });
  const info = model.info();
  const { codebookSize, hopLength, sampleRate } = info.hparams.codec;
  const codebooks = info.codebooks / info.channels;
  const codes = new Int32Array(codebooks * frames);
  let state = 12345;
  for (let i = 0; i < codes.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    codes[i] = state % codebookSize;
  }
  const audioSeconds = (frames * hopLength) / sampleRate;
  const bench = nativeDiagnostics();
  const cost = bench.benchDecoderCost(model);
  const peak = bench.benchPeakMacs(false, Number(values.threads), 3);
  const copyBytesPerSecond = await bench.benchCopyBandwidth(512, Number(values.threads), 5);
  const floorMs = (cost.macsPerSecond / peak) * 1000; // per audio second
  console.log(
    `floors per audio second: ${(cost.macsPerSecond / 1e9).toFixed(3)} G multiply-adds ` +
      `(LSTM ${(cost.lstmMacsPerSecond / 1e9).toFixed(3)}) over ${(peak / 1e9).toFixed(1)} G/s f32 peak = ` +
      `${floorMs.toFixed(1)} ms (${(1000 / floorMs).toFixed(1)} x RT); LSTM recurrent weights ` +
      `${(cost.lstmRecurrentBytesPerFrame / 2 ** 20).toFixed(1)} MiB/frame x ${cost.frameRate} frames over ` +
      `${(copyBytesPerSecond / 1e9).toFixed(1)} GB/s = ` +
      `${((cost.lstmRecurrentBytesPerFrame * cost.frameRate * 1000) / copyBytesPerSecond).toFixed(1)} ms`,
  );

  const runs: Array<[string, () => Promise<unknown>]> = [];
  if (values.mode !== 'stream')
    runs.push(['whole clip', () => nativeDiagnostics().decodeCodes(model, codes, codebooks, frames)]);
  if (values.mode !== 'whole') {
    runs.push([
      `stream (${chunk}-frame pushes)`,
      () => nativeDiagnostics().decodeCodesStreaming(model, codes, codebooks, frames, chunk, false, true),
    ]);
  }
  // The modes take turns, repetition by repetition, so that the machine's drifting speed weighs on both alike.
  for (const [, run] of runs) await run(); // warm-up: first graphs of a process pay one-time setup
  const times = runs.map((): number[] => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, [, run]] of runs.entries()) {
      const started = performance.now();
      await run();
      times[i]!.push((audioSeconds * 1000) / (performance.now() - started));
    }
  }
  for (const [i, [name]] of runs.entries()) {
    const xrt = times[i]!;
    console.log(
      `${name}: ${audioSeconds} s audio, ${values.threads} threads, x RT median ${median(xrt).toFixed(2)} ` +
        `(${(1000 / median(xrt) / floorMs).toFixed(2)} x the arithmetic floor) ` +
        `(runs ${xrt.map((x) => x.toFixed(2)).join(' ')})`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
