// npm run build:ts && node dist/bench/first-chunk.js [--model bench/.cache/small-q8_0.gguf] [--threads 2]
//   [--frames 100,500,1500] [--runs 3]
// When the first audio of gen.stream() arrives, for streams of several lengths, each measured as the first stream
// of a fresh process (a child per run, as a user's first request meets it: nothing of an earlier stream's memory
// to reuse), after one short generate() that loads the weights into memory. Prints every run and the median per
// length; the development machine is shared, so single runs are noisy. The model comes from `npm run bench`.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MusicGen } from '../lib';

const root = path.join(__dirname, '..', '..');
const PROMPT = 'lofi hip hop beat with warm piano and soft drums';

async function child(model: string, threads: number, frames: number): Promise<void> {
  const gen = await MusicGen.load(model, { backend: 'cpu', threads });
  await gen.generate(PROMPT, { frames: 4, guidanceScale: 3, seed: 1 });
  const started = performance.now();
  for await (const chunk of gen.stream(PROMPT, { frames, guidanceScale: 3, seed: 1 })) {
    if (chunk.frames > 0) {
      process.stdout.write(`${(performance.now() - started).toFixed(1)}\n`);
      break;
    }
  }
  gen.dispose();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: path.join(root, 'bench', '.cache', 'small-q8_0.gguf') },
      threads: { type: 'string', default: '2' },
      frames: { type: 'string', default: '100,500,1500' },
      runs: { type: 'string', default: '3' },
      child: { type: 'boolean', default: false },
    },
  });
  const threads = Number(values.threads);
  const lengths = values.frames.split(',').map(Number);
  if (values.child) return child(values.model, threads, lengths[0]!);
  console.log(`model ${values.model}, ${threads} threads: first chunk ms of a fresh process's first stream`);
  for (const frames of lengths) {
    const runs: number[] = [];
    for (let i = 0; i < Number(values.runs); i++) {
      const out = execFileSync(
        process.execPath,
        [__filename, '--child', '--model', values.model, '--threads', String(threads), '--frames', String(frames)],
        { encoding: 'utf8' },
      );
      runs.push(Number(out.trim()));
    }
    console.log(`${frames} frames: ${runs.map((r) => r.toFixed(0)).join(' ')} (median ${median(runs).toFixed(0)})`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
