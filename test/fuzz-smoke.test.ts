// A short fuzzing budget for CI (docs/fuzzing.md): every TypeScript target runs for a few seconds through the
// same runner as `npm run fuzz`, in its own child process, and must execute inputs without a single crash.
// The libFuzzer harnesses are left to `npm run fuzz` (they need clang and a sanitizer build of ggml).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import t from 'tap';
import { TARGETS } from '../tools/fuzz/targets';

const SECONDS = Number(process.env.MUSICGEN_FUZZ_SMOKE_SECONDS ?? 3);

t.test('every TypeScript fuzz target runs crash-free for a short budget', async (t) => {
  const run = spawnSync(
    process.execPath,
    [path.join(__dirname, '..', 'tools', 'fuzz', 'run.js'), '--seconds', String(SECONDS), '--no-native', '--seed', '1'],
    { encoding: 'utf8', timeout: (TARGETS.length * SECONDS + 180) * 1000 },
  );
  t.equal(run.status, 0, `fuzz run exits 0\n${run.stdout}\n${run.stderr.slice(-4000)}`);
  for (const target of TARGETS) {
    const row = run.stdout.split('\n').find((l) => l.startsWith(`${target.name} `));
    const cells = row?.split('|').map((c) => c.trim());
    t.ok(cells, `${target.name} is in the table`);
    t.ok(Number(cells?.[3]) > 0, `${target.name} executed inputs (${cells?.[3]})`);
    t.equal(cells?.[6], '0', `${target.name} had no crashes`);
  }
});
