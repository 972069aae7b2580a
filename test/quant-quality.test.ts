// tools/quant-quality.ts reports quality, it does not assert it; this checks that its report is well formed and
// that its comparisons can fail: f32 against the f32 reference must be exactly zero error, and a known
// perturbation must give the known numbers.
import * as path from 'node:path';
import t from 'tap';
import {
  CHECKPOINT_SEED,
  compareCodes,
  compareLogits,
  discoverFixtures,
  markdown,
  measureFixture,
  parseOptions,
  pseudoRandomDelayedIds,
} from '../tools/quant-quality';

t.test('metrics on known inputs', async (t) => {
  const reference = Float32Array.from([0, 1, 2, 3, 2, 1]);
  const actual = Float32Array.from([0, 1, 2.5, 3, 4, 1]);
  const e = compareLogits(actual, reference, 3);
  t.equal(e.maxAbs, 2);
  t.equal(e.rms, Math.sqrt((0.25 + 4) / 6));
  t.equal(e.relRms, e.rms / Math.sqrt((1 + 4 + 9 + 4 + 1) / 6));
  t.same([e.top1, e.positions], [0.5, 2], 'second row argmax moved');
  t.throws(() => compareLogits(Float32Array.from([NaN, 0, 0]), reference.subarray(0, 3), 3), /non-finite/);

  // Stereo layout: K = 4 rows, delay = k / 2; frame 0 is an audio prompt and not counted.
  const shape = { batch: 1, codebooks: 4, frames: 3, promptFrames: 1, channels: 2 };
  const codes = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4];
  const changed = [...codes];
  changed[11] = 5; // codebook 3, frame 2: step (2 - 1) + 1
  changed[9] = 6; // prompt frame: ignored
  t.same(compareCodes(changed, codes, shape), {
    agreement: 7 / 8,
    identical: 7,
    total: 8,
    firstDivergentStep: 2,
    steps: 3,
  });
});

t.test('one fixture: report structure, f32 vs f32 has zero error', async (t) => {
  const dirs = discoverFixtures();
  t.ok(dirs.length > 0, `fixtures found: ${dirs.map((d) => path.basename(d)).join(', ')}`);
  const report = await measureFixture(dirs[0]!, { types: ['f32', 'q8_0'] });
  t.equal(report.fixture, path.basename(dirs[0]!));
  t.same(
    report.types.map((r) => r.type),
    ['f32', 'q8_0'],
  );
  t.ok(report.greedyRuns.length > 0, 'the fixture defines greedy runs');
  for (const r of report.types) {
    t.ok(r.ggufBytes > 0, `${r.type}: GGUF size`);
    for (const f of [r.bytesByType, r.logitPathBytesByType]) {
      const sum = Object.values(f).reduce((a, b) => a + b, 0);
      t.ok(Math.abs(sum - 1) < 1e-9, `${r.type}: byte fractions sum to 1`);
    }
    t.ok(r.teacherForced.vsF32.positions > 0 && Number.isFinite(r.teacherForced.vsF32.relRms));
    t.equal(r.greedy.length, report.greedyRuns.length, `${r.type}: one entry per greedy run`);
  }
  const f32 = report.types[0]!;
  t.same(f32.bytesByType, { f32: 1 }, 'f32 stores everything as f32');
  t.match(f32.teacherForced.vsF32, { maxAbs: 0, rms: 0, relRms: 0, top1: 1 }, 'f32 logits identical to f32');
  for (const g of f32.greedy) {
    t.match(g.vsF32, { agreement: 1, firstDivergentStep: null }, `${g.run}: f32 codes identical to f32`);
    // Checks the tool's reading of the run (prompt frames, chroma, guidance): f32 must reproduce HF exactly.
    t.match(g.vsGolden, { agreement: 1, firstDivergentStep: null }, `${g.run}: f32 codes identical to HF`);
  }
  t.match(markdown([report]), /\| q8_0 \|/, 'markdown has a q8_0 row');
});

t.test('options: fixture mode by default, --checkpoint with --steps and --gguf-dir', async (t) => {
  t.match(parseOptions([]), { types: ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k'], threads: 2, checkpoint: undefined });
  t.same(parseOptions(['--checkpoint', 'ckpt', '--types', 'f32,q4_k']).checkpoint, {
    dir: 'ckpt',
    steps: 50,
    ggufDir: undefined,
  });
  t.same(parseOptions(['--checkpoint', 'ckpt', '--steps', '8', '--gguf-dir', 'out']).checkpoint, {
    dir: 'ckpt',
    steps: 8,
    ggufDir: 'out',
  });
  t.throws(() => parseOptions(['--steps', '8']), /--steps needs --checkpoint/);
  t.throws(() => parseOptions(['--checkpoint', 'c', '--steps', '0']), /--steps must be a positive integer/);
  t.throws(() => parseOptions(['--checkpoint', 'c', '--fixtures', 'f']), /exclude each other/);
  t.throws(() => parseOptions(['--types', 'q5_k']), /unknown --types q5_k/);
});

t.test('pseudo-random delayed ids: deterministic, delay pattern of generate()', async (t) => {
  const shape = { batch: 1, codebooks: 4, positions: 7, channels: 1, vocab: 2048, pad: 2048 };
  const ids = pseudoRandomDelayedIds(shape);
  t.same(ids, pseudoRandomDelayedIds(shape, CHECKPOINT_SEED), 'same seed, same ids');
  t.notSame(ids, pseudoRandomDelayedIds(shape, CHECKPOINT_SEED + 1), 'another seed, other ids');
  for (let k = 0; k < 4; k++) {
    for (let s = 0; s < 7; s++) {
      const id = ids[k * 7 + s]!;
      // Row k: BOS at 0, pad up to position k, then 3 codes (positions - codebooks), then pad.
      if (s >= k + 1 && s < k + 4) t.ok(id >= 0 && id < 2048, `code at [${k}, ${s}]`);
      else t.equal(id, 2048, `pad at [${k}, ${s}]`);
    }
  }
  t.throws(() => pseudoRandomDelayedIds({ ...shape, positions: 4 }), /more than 4 positions/);
});
