// Child process of run.ts for one TypeScript target: generates input after input (input i from the run seed and
// i), writes it to <work>/current<ext> before executing it (so a native crash or a hang leaves it for run.ts to
// save), counts typed rejections, and saves every input that ends in anything else to the crash folder.
// argv: <target> <seed> <seconds> <work dir> <crash dir> <seed cache dir>
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from './mutate';
import { prepareSeeds } from './seeds';
import { isTypedRejection, targetByName } from './targets';

export interface WorkerReport {
  type: 'ready' | 'progress' | 'done';
  execs: number;
  accepted: number;
  rejected: number;
  crashes: number;
  saved: string[];
}

/** What a crash looks like for de-duplication: error class, message without numbers, first stack frame. */
export function crashSignature(error: unknown): string {
  if (!(error instanceof Error)) return `non-Error ${typeof error}: ${String(error).slice(0, 80)}`;
  const frame = (error.stack ?? '').split('\n').find((l) => l.trim().startsWith('at ')) ?? '';
  return `${error.name}: ${error.message.split('\n')[0]!.replace(/\d+/g, 'N').slice(0, 120)} ${frame.trim()}`;
}

/** Saves `bytes` as crash-<sha1 prefix><ext> with a .txt note next to it; returns the path. */
export function saveCrash(dir: string, bytes: Buffer, ext: string, note: string, kind = 'crash'): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${kind}-${createHash('sha1').update(bytes).digest('hex').slice(0, 16)}${ext}`);
  fs.writeFileSync(file, bytes);
  fs.writeFileSync(`${file}.txt`, note);
  return file;
}

async function main(): Promise<void> {
  const [name, seedText, secondsText, work, crashDir, cacheDir] = process.argv.slice(2);
  const target = targetByName(name ?? '');
  if (!target || !work || !crashDir || !cacheDir)
    throw new Error(`usage: worker <target> <seed> <seconds> <work> <crashes> <cache>`);
  const seed = Number(seedText) >>> 0;
  const deadline = Date.now() + Number(secondsText) * 1000;
  const instance = await target.create(await prepareSeeds(cacheDir));
  const current = path.join(work, `current${target.ext}`);
  const report: WorkerReport = { type: 'ready', execs: 0, accepted: 0, rejected: 0, crashes: 0, saved: [] };
  const send = (type: WorkerReport['type']) => process.send?.({ ...report, type });
  send('ready');
  const signatures = new Set<string>();
  for (let i = 0; Date.now() < deadline;) {
    const batchEnd = Math.min(deadline, Date.now() + 200);
    while (Date.now() < batchEnd) {
      let bytes: Buffer;
      try {
        bytes = instance.generate(new Rng(seed, i++));
      } catch (error) {
        // Not a finding in the target: the mutator itself failed. Still fatal, but say whose bug it is.
        throw new Error(
          `fuzz harness error in ${target.name}'s mutator (tools/fuzz), input ${i - 1}: ${String(error)}`,
        );
      }
      fs.writeFileSync(current, bytes);
      try {
        await instance.execute(current, bytes);
        report.accepted++;
      } catch (error) {
        if (isTypedRejection(target, error)) {
          report.rejected++;
        } else {
          report.crashes++;
          const signature = crashSignature(error);
          if (!signatures.has(signature)) {
            signatures.add(signature);
            const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
            const note = `target ${target.name}, run seed ${seed}, input ${i - 1}\n${signature}\n\n${stack}\n`;
            report.saved.push(saveCrash(crashDir, bytes, target.ext, note));
          }
        }
      }
      report.execs++;
    }
    send('progress');
    await new Promise((resolve) => setImmediate(resolve));
  }
  instance.dispose?.();
  send('done');
}

if (require.main === module) {
  main().then(
    () => process.disconnect?.(),
    (error: unknown) => {
      console.error(error);
      process.exit(3);
    },
  );
}
