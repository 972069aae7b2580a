// The CPU kernel sets (native/src/runtime/cpu-matvec.h) on every instruction set this CPU runs: random products
// against ggml_mul_mat and the exact product, and the rows weighted and summed against the exact sum (odd block
// counts, tails, more columns than one pass holds), the quantised columns, GELU and the decoder's ELU against the
// scalar set's, then the LM and EnCodec parity and stream == one-shot tests again with each kernel set forced through
// MUSICGEN_CPU_KERNELS (the tests themselves run with the best set), and a bad MUSICGEN_CPU_KERNELS refused at load.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { runtimeInfo } from '../lib/runtime';

const kernelSets = ['scalar', 'avx2', 'avx512'] as const;
type Kernels = (typeof kernelSets)[number];

function runs(kernels: Kernels): boolean {
  try {
    nativeDiagnostics().checkCpuMatvec('f32', 32, 1, 1, kernels, 0);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_INVALID_ARG_VALUE') return false;
    throw e;
  }
}

// [n_in, n_out, columns]: a width that is no multiple of 16 (f32 / f16 tails), odd block counts (q8_0's last block
// at 256 bits), a column count of 5 and 8 (two passes), the real model's widths.
const shapes: Array<[number, number, number]> = [
  [48, 5, 1],
  [96, 7, 2],
  [1056, 13, 3],
  [1024, 64, 2],
  [4096, 17, 5],
  [160, 9, 8],
  [256, 3, 1],
  [768, 11, 8],
];

t.test('runtimeInfo names the kernel set in use', async (t) => {
  const { cpuKernels } = runtimeInfo();
  t.ok(['avx512', 'avx2', 'scalar', 'ggml'].includes(cpuKernels), cpuKernels);
  if (!process.env.MUSICGEN_CPU_KERNELS) {
    const best = [...kernelSets].reverse().find(runs);
    t.equal(cpuKernels, best, 'the best set this CPU runs is the default');
  }
});

for (const kernels of kernelSets) {
  const skip = runs(kernels) ? false : `this CPU does not run ${kernels}`;
  t.test(`${kernels} kernels against ggml_mul_mat and the exact product`, { skip }, async (t) => {
    let seed = 1;
    for (const type of ['f32', 'f16', 'q8_0', 'q4_K'] as const) {
      for (const [nIn, nOut, nCols] of shapes) {
        if ((type === 'q8_0' && nIn % 32 !== 0) || (type === 'q4_K' && nIn % 256 !== 0)) continue;
        const check = nativeDiagnostics().checkCpuMatvec(type, nIn, nOut, nCols, kernels, seed++);
        const what = `${type} [${nIn}, ${nOut}] x ${nCols} columns`;
        // The GELU after the feed-forward's first product: erf from a polynomial in the vector sets, within 1.5e-7 of
        // the C library's erf (0.75e-7 of |x| in the GELU), plus the roundings of 1 + erf (up to 2.4e-7 / 2) and of
        // the products: a few float roundings of |x|.
        t.ok(check.geluDiff <= 4e-7, `GELU of ${nIn + 1} values: ${check.geluDiff} of |x| from the scalar set's`);
        // The EnCodec decoder's ELU: every element the same bits in every set and lane (stream == one-shot rests on it).
        t.equal(check.eluMismatches, 0, `ELU of ${nIn + 5} values: bit for bit the scalar set's`);
        // The decoder's direct convolution (AVX2 / AVX-512): every output a chain of multiply-adds in order, so the
        // same bits in every set, block and channel range (stream == one-shot rests on it), within float summation
        // error of the exact sum.
        t.equal(check.convChecked, kernels !== 'scalar', `${kernels}: direct convolution checked`);
        if (check.convChecked) {
          t.equal(check.convMismatches, 0, `convolution of ${nIn} values per frame, ${nOut} channels: fma chains`);
          t.ok(check.convExact <= 1e-5 * check.convRef, `convolution: ${check.convExact} from the exact sum`);
        }
        if (type === 'q8_0' || type === 'q4_K') {
          // Both quantise the columns the same way (q8_0 / q8_K blocks, values rounded to nearest even) and sum
          // exact integer block products: only the float summation order differs.
          t.ok(check.maxAbsDiff <= 1e-5 * check.maxAbsRef, `${what}: ${check.maxAbsDiff} from ggml's`);
          // Each set quantises the columns with its own instructions: byte for byte the scalar set's.
          t.equal(check.quantizedMismatches, 0, `${what}: columns quantised as the scalar set does`);
        } else {
          // Ours multiplies the f32 columns as they are (ggml rounds them to f16 for f16 weights): within float
          // summation error of the exact product of the stored weights.
          t.ok(check.maxAbsExact <= 1e-5 * check.maxAbsRef, `${what}: ${check.maxAbsExact} from the exact product`);
          t.ok(check.maxAbsDiff <= 2e-3 * check.maxAbsRef, `${what}: ${check.maxAbsDiff} from ggml's`);
          // The rows weighted and summed (attention's values): float summation error of the exact sum.
          t.ok(
            check.weightedSumExact <= 1e-5 * check.weightedSumRef,
            `${type} ${nOut} rows of ${nIn} weighted and summed: ${check.weightedSumExact} from the exact sum`,
          );
        }
      }
    }
  });
}

const root = path.resolve(__dirname, '..', '..');
// Each file with the tests whose results depend on the kernels (TAP_GREP, a pattern for the top-level names; ''
// runs all, else a subtest that must have run): stream.test.js's lifecycle tests (abort, dispose, exit, 200 aborted
// streams) ask nothing of the kernel set and already run with the default one; here they only cost time (under the
// sanitizer, minutes per set).
const parityFiles: Array<[string, string, string?]> = [
  ['lm.test.js', ''],
  ['generate.test.js', ''],
  // The decoder's ELU and (AVX2 / AVX-512) its direct convolutions come from the kernel set too: its HF parity and
  // stream == one-shot under each, and the memory estimate of the decoder's graphs, which differ.
  ['encodec.test.js', ''],
  ['encodec-stream.test.js', ''],
  ['encodec-shapes.test.js', ''],
  ['memory-budget.test.js', '^the decode estimate', 'the decode estimate'],
  [
    'stream.test.js',
    '^(chunks concatenate|the first chunk is short|a batch yields|concurrent streams|stereo|an f16 KV cache)',
    'stereo',
  ],
];
// A child may take as long as this file may (tap's per-file timeout, TAP_TIMEOUT seconds: 2400 under the sanitizer).
const childTimeoutMs = (Number(process.env.TAP_TIMEOUT) || 600) * 1000;

for (const kernels of ['ggml', ...kernelSets] as const) {
  const skip =
    kernels !== 'ggml' && !runs(kernels)
      ? `this CPU does not run ${kernels}`
      : kernels === runtimeInfo().cpuKernels
        ? `${kernels} is the set every other test runs with`
        : false;
  t.test(`LM parity and stream == one-shot with MUSICGEN_CPU_KERNELS=${kernels}`, { skip }, async (t) => {
    for (const [file, grep, subtest] of parityFiles) {
      const started = performance.now();
      const env: NodeJS.ProcessEnv = { ...process.env, MUSICGEN_CPU_KERNELS: kernels, MUSICGEN_TEST_BACKENDS: 'cpu' };
      if (grep) env.TAP_GREP = grep;
      else delete env.TAP_GREP;
      const child = spawnSync(process.execPath, [path.join(root, 'dist', 'test', file)], {
        env,
        encoding: 'utf8',
        timeout: childTimeoutMs,
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const how = child.signal
        ? `killed by ${child.signal} after ${seconds} s`
        : `exit ${child.status} after ${seconds} s`;
      t.equal(
        child.status,
        0,
        `${file}: ${child.status === 0 ? `passes (${seconds} s)` : `${how}\n${child.stdout.slice(-3000)}${child.stderr}`}`,
      );
      if (subtest) t.match(child.stdout, `# Subtest: ${subtest}`, `${file}: the chosen tests ran`);
    }
  });
}

t.test('a bad MUSICGEN_CPU_KERNELS is refused when the addon loads', async (t) => {
  const script = `try { require(${JSON.stringify(path.join(root, 'dist', 'lib', 'runtime.js'))}).runtimeInfo(); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  for (const value of ['avx9000', 'AVX2']) {
    const child = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, MUSICGEN_CPU_KERNELS: value },
      encoding: 'utf8',
    });
    const out = JSON.parse(child.stdout.trim() || '{}') as { code?: string; message?: string };
    t.match(out.message, /MUSICGEN_CPU_KERNELS|CPU kernels must be/, `${value}: ${out.message}`);
    t.ok(out.code?.startsWith('ERR_'), `${value}: code ${out.code}`);
  }
});
