// `npm run fuzz -- --seconds N [--target NAME]... [--seed N] [--no-native]`: runs every fuzz target for N seconds
// (docs/fuzzing.md). TypeScript targets run in a child process each (tools/fuzz/worker.ts) so a native crash or a
// hang is caught and its input saved; the libFuzzer harnesses of fuzz/native run when clang is available (built
// into build/fuzz on first use). Prints executions / crashes per target; exits 1 if any target crashed.
import { spawnSync, fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareSeeds, FIXTURES, REPO, type SeedFiles } from './seeds';
import { TARGETS } from './targets';
import { saveCrash, type WorkerReport } from './worker';

export const NATIVE_HARNESSES = ['gguf_load_fuzzer', 'tokenizer_fuzzer', 'charsmap_fuzzer'] as const;
const CACHE = path.join(REPO, 'fuzz', '.cache');
const CRASHES = path.join(REPO, 'fuzz', 'crashes');
const BUILD = path.join(REPO, 'build', 'fuzz');
/** No progress report for this long means the current input hangs the target. */
const HANG_MS = 20_000;

interface Row {
  target: string;
  kind: 'ts' | 'libFuzzer';
  seconds: number;
  execs: number;
  accepted?: number;
  rejected?: number;
  crashes: number;
  saved: string[];
  note?: string;
}

interface Options {
  seconds: number;
  targets: string[];
  seed: number;
  native: boolean;
}

function usage(message?: string): never {
  if (message) console.error(`fuzz: ${message}`);
  console.error(
    'usage: npm run fuzz -- [--seconds N] [--target NAME]... [--seed N] [--no-native]\n' +
      `targets: ${[...TARGETS.map((t) => t.name), ...NATIVE_HARNESSES].join(', ')}`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seconds: 10, targets: [], seed: Date.now() % 2 ** 32, native: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${arg} needs a value`);
    if (arg === '--seconds') {
      options.seconds = Number(value());
      if (!(options.seconds > 0)) usage('--seconds must be a positive number');
    } else if (arg === '--target') {
      options.targets.push(...value().split(','));
    } else if (arg === '--seed') {
      options.seed = Number(value()) >>> 0;
    } else if (arg === '--no-native') {
      options.native = false;
    } else if (arg === '--help' || arg === '-h') {
      usage();
    } else {
      usage(`unknown argument '${arg}'`);
    }
  }
  const known = new Set<string>([...TARGETS.map((t) => t.name), ...NATIVE_HARNESSES]);
  for (const t of options.targets) if (!known.has(t)) usage(`unknown target '${t}'`);
  return options;
}

// ---------------------------------------------------------------------------------------------------------------
// TypeScript targets.

async function runTsTarget(name: string, options: Options, seeds: SeedFiles): Promise<Row> {
  const target = TARGETS.find((t) => t.name === name)!;
  const work = fs.mkdtempSync(path.join(CACHE, `work-${name}-`));
  const crashDir = path.join(CRASHES, name);
  const row: Row = {
    target: name,
    kind: 'ts',
    seconds: options.seconds,
    execs: 0,
    accepted: 0,
    rejected: 0,
    crashes: 0,
    saved: [],
  };
  const deadline = Date.now() + options.seconds * 1000;
  try {
    for (let restart = 0; Date.now() < deadline - 250; restart++) {
      const seed = (options.seed + restart * 7919) >>> 0;
      const seconds = (deadline - Date.now()) / 1000;
      const child = fork(
        path.join(__dirname, 'worker.js'),
        [name, String(seed), String(seconds), work, crashDir, CACHE],
        {
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          execArgv: [],
        },
      );
      const result = await supervise(child);
      const last = result.last;
      if (last) {
        row.execs += last.execs;
        row.accepted! += last.accepted;
        row.rejected! += last.rejected;
        row.crashes += last.crashes;
        row.saved.push(...last.saved);
      }
      if (result.outcome === 'ok') break;
      // Process crash or hang: the input it was on is still in the work folder.
      row.crashes++;
      const current = path.join(work, `current${target.ext}`);
      const note = `target ${name}, run seed ${seed}: ${result.outcome}\n\n${result.output.slice(-8000)}\n`;
      if (fs.existsSync(current) && last) {
        row.saved.push(
          saveCrash(
            crashDir,
            fs.readFileSync(current),
            target.ext,
            note,
            result.outcome.startsWith('hang') ? 'hang' : 'crash',
          ),
        );
      } else {
        row.note = `worker failed before its first input: ${result.outcome}\n${result.output.slice(-2000)}`;
        break;
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return row;
}

function supervise(child: ChildProcess): Promise<{ outcome: string; last?: WorkerReport; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    let last: WorkerReport | undefined;
    let lastSeen = Date.now();
    let killedFor: string | undefined;
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('message', (message: WorkerReport) => {
      lastSeen = Date.now();
      last = message;
    });
    // The first report comes after the seeds are loaded (a model for some targets): allow more time for it.
    const timer = setInterval(() => {
      const limit = last ? HANG_MS : 5 * 60_000;
      if (Date.now() - lastSeen > limit) {
        killedFor = `hang: no progress for ${Math.round(limit / 1000)} s`;
        child.kill('SIGKILL');
      }
    }, 500);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      const outcome =
        killedFor ??
        (code === 0 && last?.type === 'done' ? 'ok' : `process crash (exit code ${code}, signal ${signal})`);
      resolve({ outcome, last, output });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// libFuzzer harnesses.

function haveCommand(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Configures (first time) and builds build/fuzz; returns why it could not, or undefined. */
function buildNative(): string | undefined {
  if (!haveCommand('cmake')) return 'cmake not found';
  if (!fs.existsSync(path.join(BUILD, 'CMakeCache.txt'))) {
    if (!haveCommand('clang++') || !haveCommand('clang'))
      return 'clang not found (apt-get install clang libclang-rt-dev)';
    console.error('fuzz: configuring the libFuzzer build in build/fuzz (first build takes a few minutes)');
    const configure = spawnSync(
      'cmake',
      [
        '-S',
        path.join(REPO, 'fuzz', 'native'),
        '-B',
        BUILD,
        '-DCMAKE_C_COMPILER=clang',
        '-DCMAKE_CXX_COMPILER=clang++',
      ],
      { stdio: 'inherit' },
    );
    if (configure.status !== 0) return 'cmake configure of fuzz/native failed';
  }
  const build = spawnSync('cmake', ['--build', BUILD, '-j', '2', '--target', ...NATIVE_HARNESSES], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return build.status === 0 ? undefined : 'building fuzz/native failed';
}

function nativeSeeds(harness: string, seeds: SeedFiles): string {
  const dir = path.join(seeds.dir, 'native', harness);
  if (fs.existsSync(dir)) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const texts = collectTexts();
  if (harness === 'gguf_load_fuzzer') {
    for (const f of seeds.gguf) fs.copyFileSync(f, path.join(dir, path.basename(f)));
  } else if (harness === 'tokenizer_fuzzer') {
    texts.forEach((t, i) => fs.writeFileSync(path.join(dir, `case-${i}.txt`), t));
    fs.writeFileSync(
      path.join(dir, 'invalid-utf8.txt'),
      Buffer.from([0x61, 0xc3, 0x28, 0xe2, 0x82, 0xf0, 0x9f, 0x92, 0xff, 0x3c, 0x2f, 0x73, 0x3e]),
    );
  } else {
    const charsmap = fs.readFileSync(seeds.charsmap);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(charsmap.length);
    texts
      .slice(0, 20)
      .forEach((t, i) =>
        fs.writeFileSync(path.join(dir, `case-${i}.bin`), Buffer.concat([length, charsmap, Buffer.from(t)])),
      );
    fs.writeFileSync(
      path.join(dir, 'no-charsmap.bin'),
      Buffer.concat([Buffer.alloc(4), Buffer.from('  Hello  World ')]),
    );
  }
  return dir;
}

function collectTexts(): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tokenizer', 'cases.json'), 'utf8')));
  return [...new Set(out)].slice(0, 200);
}

function runNative(harness: string, options: Options, seeds: SeedFiles): Row {
  const row: Row = { target: harness, kind: 'libFuzzer', seconds: options.seconds, execs: 0, crashes: 0, saved: [] };
  const crashDir = path.join(CRASHES, harness);
  const corpus = path.join(CACHE, 'corpus', harness);
  fs.mkdirSync(crashDir, { recursive: true });
  fs.mkdirSync(corpus, { recursive: true });
  const before = new Set(fs.readdirSync(crashDir));
  const result = spawnSync(
    path.join(BUILD, harness),
    [
      `-max_total_time=${Math.ceil(options.seconds)}`,
      `-seed=${options.seed}`,
      '-timeout=20',
      '-rss_limit_mb=2560',
      '-print_final_stats=1',
      `-artifact_prefix=${crashDir}${path.sep}`,
      corpus,
      nativeSeeds(harness, seeds),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      timeout: (options.seconds + 120) * 1000,
      env: {
        ...process.env,
        MUSICGEN_FUZZ_MODEL: seeds.tokenizerModel,
        ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=0',
        UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1:halt_on_error=1',
      },
    },
  );
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  row.execs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1] ?? 0);
  row.saved = fs
    .readdirSync(crashDir)
    .filter((f) => !before.has(f) && /^(crash|leak|timeout|oom|slow-unit)-/.test(f))
    .map((f) => path.join(crashDir, f));
  row.crashes = row.saved.length + (result.status !== 0 && row.saved.length === 0 ? 1 : 0);
  if (result.status !== 0) {
    const log = path.join(crashDir, `run-${Date.now()}.log`);
    fs.writeFileSync(log, output);
    row.note = `libFuzzer exited with ${result.status ?? result.signal}; log: ${path.relative(REPO, log)}`;
  }
  return row;
}

// ---------------------------------------------------------------------------------------------------------------

function printTable(rows: Row[]): void {
  const header = [
    'target',
    'kind',
    'seconds',
    'executions',
    'accepted',
    'rejected (typed)',
    'crashes',
    'saved crash files',
  ];
  const lines = rows.map((r) => [
    r.target,
    r.kind,
    String(r.seconds),
    String(r.execs),
    r.accepted === undefined ? '-' : String(r.accepted),
    r.rejected === undefined ? '-' : String(r.rejected),
    String(r.crashes),
    r.saved.length ? r.saved.map((f) => path.relative(REPO, f)).join(' ') : r.note ? r.note.split('\n')[0]! : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const l of lines) console.log(format(l));
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  fs.mkdirSync(CACHE, { recursive: true });
  const seeds = await prepareSeeds(CACHE);
  const wanted = (name: string) => options.targets.length === 0 || options.targets.includes(name);
  console.error(`fuzz: seed ${options.seed}, ${options.seconds} s per target`);
  const rows: Row[] = [];
  for (const target of TARGETS) {
    if (!wanted(target.name)) continue;
    const row = await runTsTarget(target.name, options, seeds);
    console.error(`fuzz: ${row.target}: ${row.execs} executions, ${row.crashes} crashes`);
    rows.push(row);
  }
  const natives = NATIVE_HARNESSES.filter(wanted);
  if (natives.length > 0 && options.native) {
    const why = buildNative();
    for (const harness of natives) {
      if (why) {
        rows.push({
          target: harness,
          kind: 'libFuzzer',
          seconds: 0,
          execs: 0,
          crashes: 0,
          saved: [],
          note: `skipped: ${why}`,
        });
        continue;
      }
      const row = runNative(harness, options, seeds);
      console.error(`fuzz: ${row.target}: ${row.execs} executions, ${row.crashes} crashes`);
      rows.push(row);
    }
  }
  printTable(rows);
  const failed = rows.filter((r) => r.crashes > 0 || (r.kind === 'ts' && r.execs === 0));
  if (failed.length > 0) {
    console.error(`fuzz: ${failed.map((r) => r.target).join(', ')} crashed (inputs under fuzz/crashes/)`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
