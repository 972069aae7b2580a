#!/usr/bin/env node
/**
 * npm run test:emulated — the linux-arm64 prebuild, tested on this x86-64 machine: each test file of a chosen subset
 * runs standalone (a node-tap test file exits non-zero on a failure) in the arm64 Node.js from the npm registry
 * (scripts/fetch-node.js), emulated by qemu-user, with the addon forced to prebuilds/linux-arm64/. The subset is what
 * proves the arm64 build computes what the x64 one does (the parity tests), chosen to fit CI's time; what it leaves
 * out, and why, is in docs/prebuilds.md ("Tested under emulation"). Prints pass/fail/skip counts per file and
 * exits non-zero on any failure. No timings here are speed claims: emulation is 10-50x slower than an arm64 CPU.
 *   --only a.test.js,b.test.js   run only these files of the subset
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const QEMU = '/usr/bin/qemu-aarch64-static';
// The aarch64 sysroot of Debian's cross toolchain (libc6-arm64-cross, libstdc++6-arm64-cross): the arm64 node's
// and the prebuild's shared libraries are found there.
const SYSROOT = '/usr/aarch64-linux-gnu';

/**
 * Each file with a TAP_GREP pattern for its top-level test names ('' runs all). Left out of a file: tests that start
 * a child process with process.execPath (without binfmt_misc the x86-64 kernel cannot run the arm64 node a child
 * would exec), and tests that only measure time or memory (meaningless under emulation).
 */
/**
 * `cpu` is qemu's CPU model (default 'max': dotprod, fp16, i8mm, SVE2..., on which ggml picks the best shipped module,
 * armv8.2_2); one file runs again on 'cortex-a72' (plain armv8.0 NEON) so the baseline module armv8.0_1 computes too.
 */
const EMULATED_SUBSET: Array<{ file: string; grep: string; covers: string; cpu?: string }> = [
  { file: 'binary-target.test.js', grep: '', covers: 'runtimeInfo().binary is linux/arm64/glibc' },
  { file: 'tokenizer.test.js', grep: '^(every case|batch prompts)', covers: 'T5 tokenizer == HF' },
  {
    file: 'generate.test.js',
    grep: 'greedy codes identical to HF',
    covers: 'greedy codes, CFG 3 and 1, mono + stereo',
  },
  { file: 'encodec.test.js', grep: '', covers: 'EnCodec decode == HF' },
  {
    file: 'stream.test.js',
    grep: '^(chunks concatenate|a batch yields|stereo)',
    covers: 'stream == one-shot, stereo rows',
  },
  { file: 'melody.test.js', grep: 'identical to HF', covers: 'melody (chroma) greedy codes' },
  { file: 'audio-prompt.test.js', grep: 'identical to HF', covers: 'continuation: prompt + prompted greedy codes' },
  {
    file: 'generate.test.js',
    grep: 'greedy codes identical to HF',
    covers: 'the same on the baseline module (armv8.0_1)',
    cpu: 'cortex-a72',
  },
  {
    file: 'cpu-kernels.test.js',
    grep: '^(runtimeInfo names|scalar kernels)',
    covers: "kernel choice on arm64 ('scalar'), scalar kernels vs ggml",
  },
];

function fail(message: string): never {
  console.error(`emulated tests: ${message}`);
  process.exit(1);
}

interface FileResult {
  file: string;
  pass: number;
  fail: number;
  skip: number;
  seconds: number;
  status: number | null;
}

// Top-level TAP lines of a standalone node-tap file: "ok 3 - name # time=...", "not ok 4 - name", "# SKIP".
function count(tap: string): { pass: number; fail: number; skip: number } {
  const lines = tap.split('\n').filter((l) => /^(not )?ok \d+/.test(l));
  const skip = lines.filter((l) => /^ok .*# SKIP/.test(l)).length;
  const failed = lines.filter((l) => l.startsWith('not ok')).length;
  return { pass: lines.length - skip - failed, fail: failed, skip };
}

function main(): void {
  const arch = process.argv.includes('--arch') ? process.argv[process.argv.indexOf('--arch') + 1] : 'arm64';
  if (arch !== 'arm64') fail(`--arch ${arch}: only arm64 is emulated (docs/prebuilds.md)`);
  if (process.platform !== 'linux' || process.arch !== 'x64') fail('runs on linux-x64 (qemu-user emulates arm64)');
  if (!fs.existsSync(QEMU)) fail(`${QEMU} is missing (Debian: apt-get install qemu-user-static)`);
  if (!fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1')))
    fail(`${SYSROOT} has no arm64 C library (Debian: apt-get install g++-aarch64-linux-gnu)`);
  const addon = path.join(root, 'prebuilds', 'linux-arm64', 'musicgen-native.glibc.node');
  if (!fs.existsSync(addon)) fail(`no ${path.relative(root, addon)}: run \`npm run build:prebuilds -- --arch arm64\``);
  const fetched = spawnSync(process.execPath, [path.join(root, 'scripts', 'fetch-node.js'), 'linux-arm64'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (fetched.status !== 0) fail('could not fetch the arm64 Node.js (scripts/fetch-node.js)');
  const node = fetched.stdout.trim();
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : [];
  const subset = only.length > 0 ? EMULATED_SUBSET.filter((s) => only.includes(s.file)) : EMULATED_SUBSET;

  const results: FileResult[] = [];
  const started = performance.now();
  for (const { file, grep, covers, cpu } of subset) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MUSICGEN_NATIVE_ADDON: addon,
      // The arm64 prebuild is CPU only (docs/prebuilds.md).
      MUSICGEN_TEST_BACKENDS: 'cpu',
      TAP_TIMEOUT: '0',
    };
    if (grep) env.TAP_GREP = grep;
    else delete env.TAP_GREP;
    const t0 = performance.now();
    const child = spawnSync(QEMU, ['-cpu', cpu ?? 'max', '-L', SYSROOT, node, path.join(root, 'dist', 'test', file)], {
      cwd: root,
      env,
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    });
    const seconds = (performance.now() - t0) / 1000;
    const counts = count(child.stdout ?? '');
    const result = { file, ...counts, seconds, status: child.status };
    results.push(result);
    const ok = child.status === 0 && counts.fail === 0 && counts.pass > 0;
    console.log(
      `${ok ? 'ok    ' : 'FAILED'} ${`${file}${cpu ? ` (-cpu ${cpu})` : ''}`.padEnd(24)} ${counts.pass} pass, ${counts.fail} fail, ${counts.skip} skipped` +
        ` (filtered out or not for this build)  ${seconds.toFixed(0)} s  [${covers}]`,
    );
    if (!ok) console.log(`${child.stdout.slice(-6000)}\n${child.stderr.slice(-3000)}`);
  }
  const total = results.reduce((a, r) => ({ pass: a.pass + r.pass, fail: a.fail + r.fail, skip: a.skip + r.skip }), {
    pass: 0,
    fail: 0,
    skip: 0,
  });
  const failedFiles = results.filter((r) => r.status !== 0 || r.fail > 0 || r.pass === 0);
  console.log(
    `linux-arm64 under qemu-user (${path.relative(root, node)}): ${results.length} files, ${total.pass} top-level tests` +
      ` passed, ${total.fail} failed, ${total.skip} skipped; ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  if (failedFiles.length > 0) fail(`failed: ${failedFiles.map((r) => r.file).join(', ')}`);
}

main();
