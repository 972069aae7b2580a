#!/usr/bin/env node
/**
 * npm run test:install — what a user's first two commands do, on this machine, with no compiler:
 *   npm install musicgen-native                    (here: the tarball `npm pack` makes of this checkout)
 *   npx musicgen "lofi beat with warm piano"       (the bundled smoke-test model; then the API)
 * The package must come with its prebuilt addon (run `npm run build:prebuilds` first), install into an empty
 * project with only node and npm on PATH (no cc, c++, make, cmake: a compile attempt fails the install), load
 * from prebuilds/ and generate. Prints what it measured; exits non-zero on the first failed check.
 *   --arch arm64   the same on the linux-arm64 prebuild, on this x86-64 machine: the `node` on the install's PATH
 *                  is the arm64 Node.js from the npm registry (scripts/fetch-node.js) run by qemu-user, so the
 *                  package's install script (node-gyp-build), the musicgen CLI npx starts and the API script run as
 *                  arm64; npm and npx themselves run on this machine's node (npm install under qemu hung, idle in
 *                  epoll_wait, docs/prebuilds.md). Needs `npm run build:prebuilds -- --arch arm64` first.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lavapipeEnv } from './lavapipe';

const root = path.resolve(__dirname, '..', '..');
const arch = process.argv.includes('--arch') ? process.argv[process.argv.indexOf('--arch') + 1]! : process.arch;
const emulated = arch !== process.arch;
const platformDir = `${process.platform}-${arch}`;
const QEMU = '/usr/bin/qemu-aarch64-static';
const COMPILERS = ['cc', 'gcc', 'c++', 'g++', 'clang', 'make', 'cmake', 'ninja'];

function fail(message: string): never {
  console.error(`clean-install test FAILED: ${message}`);
  process.exit(1);
}

function check(condition: boolean, message: string): void {
  if (!condition) fail(message);
  console.log(`  ok - ${message}`);
}

function which(command: string, pathList: string): string | undefined {
  for (const dir of pathList.split(path.delimiter)) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): SpawnSyncReturns<string> {
  const started = Date.now();
  const result = spawnSync(command, args, { ...options, encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const shown = args.map((a) => (a.length > 60 ? `'${a.trim().slice(0, 40)}...'` : a));
  console.log(`$ ${[path.basename(command), ...shown].join(' ')}  (${seconds} s, exit ${result.status})`);
  if (result.status !== 0) {
    fail(`${path.basename(command)} ${args[0] ?? ''} exited with ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

function main(): void {
  const prebuilds = path.join(root, 'prebuilds', platformDir);
  const addons = fs.existsSync(prebuilds) ? fs.readdirSync(prebuilds).filter((f) => f.endsWith('.node')) : [];
  if (addons.length === 0) fail(`no prebuilt addon in ${prebuilds}: run \`npm run build:prebuilds\` first`);

  const npmBin = which('npm', process.env.PATH ?? '');
  if (!npmBin) fail('npm is not on PATH');
  const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js') ? process.env.npm_execpath : fs.realpathSync(npmBin);
  const npxCli = path.join(path.dirname(npmCli), 'npx-cli.js');

  if (emulated && (arch !== 'arm64' || process.platform !== 'linux' || process.arch !== 'x64'))
    fail(`--arch ${arch}: only linux-arm64 is emulated, on linux-x64 (docs/prebuilds.md)`);
  if (emulated && !fs.existsSync(QEMU)) fail(`${QEMU} is missing (Debian: apt-get install qemu-user-static)`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-clean-install-'));
  try {
    // 1. The tarball, as `npm publish` would upload it.
    const packed = run(process.execPath, [npmCli, 'pack', '--json', '--pack-destination', work], {
      cwd: root,
      env: process.env,
    });
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{
      filename: string;
      size: number;
      unpackedSize: number;
      files: Array<{ path: string }>;
    }>;
    const tarball = path.join(work, info[0]!.filename);
    const files = info[0]!.files.map((f) => f.path);
    console.log(
      `  tarball ${info[0]!.filename}: ${(info[0]!.size / 1e6).toFixed(1)} MB packed, ${(info[0]!.unpackedSize / 1e6).toFixed(1)} MB unpacked, ${files.length} files`,
    );
    check(
      files.some((f) => f.startsWith(`prebuilds/${platformDir}/`) && f.endsWith('.node')),
      'the tarball carries the prebuilt addon',
    );
    // The package a release ships: both Linux prebuilds in one tarball (CI builds both before this test).
    for (const shipped of ['linux-x64', 'linux-arm64']) {
      const has = files.some((f) => f.startsWith(`prebuilds/${shipped}/`) && f.endsWith('.node'));
      if (has || process.env.CI === 'true') check(has, `the tarball carries the ${shipped} prebuild`);
      else console.log(`  the tarball has no ${shipped} prebuild (required only under CI=true)`);
    }
    // The Vulkan backend module: CI (CI=true) builds the x64 prebuild with it (.ci/run installs its build tools);
    // the arm64 one is CPU only (docs/prebuilds.md).
    const vulkanModule = `prebuilds/${platformDir}/libggml-vulkan.so`;
    const shipsVulkan = files.includes(vulkanModule);
    if (emulated) check(!shipsVulkan, `the ${platformDir} prebuild is CPU only (no ${vulkanModule})`);
    else if (shipsVulkan || process.env.CI === 'true')
      check(shipsVulkan, `the tarball carries the Vulkan backend module ${vulkanModule}`);
    else console.log('  this prebuild has no Vulkan module (its build tools were missing: docs/building.md)');
    check(files.includes('models/musicgen-smoke-test.gguf'), 'the tarball carries the smoke-test model');
    check(files.includes('dist/lib/index.d.ts'), 'the tarball carries the type declarations');
    check(!files.some((f) => f.startsWith('test/') || f.startsWith('build/')), 'no tests, fixtures or build folders');

    // 2. An empty project, and a PATH with node, sh and nothing to compile with.
    const project = path.join(work, 'project');
    const bin = path.join(work, 'bin');
    fs.mkdirSync(project);
    fs.mkdirSync(bin);
    // node, and the shell npm runs package scripts with; nothing that compiles. Emulated: a `node` that runs the
    // arm64 one under qemu-user, so what npm and npx start through PATH (#!/usr/bin/env node: the install script,
    // the musicgen CLI) runs as arm64.
    const node = path.join(bin, 'node');
    if (emulated) {
      const fetched = run(process.execPath, [path.join(root, 'scripts', 'fetch-node.js'), 'linux-arm64'], {
        cwd: root,
        env: process.env,
      });
      const armNode = fetched.stdout.trim();
      fs.writeFileSync(node, `#!/bin/sh\nexec ${QEMU} -L /usr/aarch64-linux-gnu ${armNode} "$@"\n`, { mode: 0o755 });
    } else {
      fs.symlinkSync(process.execPath, node);
    }
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'fresh-project', private: true }));
    const env: NodeJS.ProcessEnv = { HOME: process.env.HOME ?? os.homedir(), PATH: bin, TMPDIR: os.tmpdir() };
    check(
      COMPILERS.every((c) => which(c, env.PATH!) === undefined),
      `no compiler or build tool on the install's PATH (${COMPILERS.join(', ')})`,
    );

    // 3. Command one: npm install.
    const arches = run(node, ['-p', 'process.platform + "-" + process.arch'], { cwd: project, env });
    check(arches.stdout.trim() === platformDir, `the install's node runs as ${arches.stdout.trim()}`);
    run(process.execPath, [npmCli, 'install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: project,
      env,
    });
    const installed = path.join(project, 'node_modules', 'musicgen-native');
    check(!fs.existsSync(path.join(installed, 'build')), 'nothing was compiled during the install (no build/)');

    // 4. Command two: npx musicgen "prompt" — the bundled model, a WAV file, machine-readable result.
    const cli = run(process.execPath, [npxCli, 'musicgen', 'lofi beat with warm piano', '-d', '2', '--json'], {
      cwd: project,
      env,
    });
    const result = JSON.parse(cli.stdout) as { output: string; seconds: number; smokeTestModel: boolean };
    check(
      result.smokeTestModel && cli.stderr.includes('smoke-test model'),
      'npx musicgen used and announced the smoke-test model',
    );
    check(Math.abs(result.seconds - 2) < 0.05, `npx musicgen made ${result.seconds.toFixed(2)} s of audio`);
    check(fs.statSync(path.join(project, 'out.wav')).size > 44, 'out.wav was written');

    // 5. The API, loaded from prebuilds/.
    const script = `
      const { MusicGen, defaultModelPath, runtimeInfo, toWav } = require('musicgen-native');
      (async () => {
        const gen = await MusicGen.load(defaultModelPath(), { backend: process.env.MG_BACKEND || 'auto' });
        const audio = await gen.generate('warm piano', { duration: 1, seed: 1 });
        const wav = toWav(audio);
        const backend = gen.info.backend;
        gen.dispose();
        console.log(JSON.stringify({ runtime: runtimeInfo(), backend, samples: audio.channels[0].length, wavBytes: wav.length }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const api = run(node, ['-e', script], { cwd: project, env });
    type Report = {
      runtime: {
        addon: string;
        build: string;
        binary: { platform: string; arch: string; libc?: string };
        backends: string[];
        cpuFeatures: string[];
        unavailable: Array<{ path: string }>;
        devices: Array<{ name: string; backend: string; description: string }>;
      };
      backend: string;
      samples: number;
    };
    const report = JSON.parse(api.stdout) as Report;
    check(
      report.runtime.addon.startsWith(path.join(installed, 'prebuilds', platformDir)),
      `the addon came from prebuilds/: ${path.relative(project, report.runtime.addon)}`,
    );
    check(report.runtime.build === 'portable', 'it is the portable build (runtime-selected CPU backend)');
    check(
      report.runtime.binary.platform === process.platform && report.runtime.binary.arch === arch,
      `runtimeInfo().binary: ${JSON.stringify(report.runtime.binary)}`,
    );
    check(report.samples > 0, `generate() returned ${report.samples} samples`);
    console.log(
      `  backends ${report.runtime.backends.join(', ')}; CPU features ${report.runtime.cpuFeatures.join(' ')}`,
    );

    const warnings = (stderr: string) =>
      stderr.split('\n').filter((line) => line.includes('MUSICGEN_BACKEND_UNAVAILABLE'));
    if (shipsVulkan) {
      // 5b. The Vulkan module loads. With no Vulkan GPU (CI: lavapipe only, which ggml lists only when
      // GGML_VK_VISIBLE_DEVICES names it) it is skipped with one warning line and the CPU ran the job above.
      const vulkanDevices = report.runtime.devices.filter((d) => d.backend === 'Vulkan');
      if (vulkanDevices.length === 0) {
        const lines = warnings(api.stderr);
        check(
          lines.length === 1 && /GPU backend libggml-vulkan\.so is not usable \(.*no Vulkan GPU.*\)/.test(lines[0]!),
          `without a Vulkan GPU the module is skipped with one warning line: ${lines.join(' | ').trim()}`,
        );
        check(report.backend === 'CPU', 'and the CPU ran the generation');
      }
      // A software Vulkan device, named: backend 'vulkan' runs the same job on it (the real shaders, on lavapipe,
      // which CI installs: Debian's mesa-vulkan-drivers, run from scripts/vulkan-sdk.sh's newer copy when it is there).
      const lavapipe = fs.existsSync('/usr/share/vulkan/icd.d/lvp_icd.x86_64.json');
      check(lavapipe || process.env.CI !== 'true', 'lavapipe (mesa-vulkan-drivers) is installed');
      if (lavapipe) {
        const onVulkan = run(node, ['-e', script], {
          cwd: project,
          env: { ...env, ...lavapipeEnv(env), GGML_VK_VISIBLE_DEVICES: '0', MG_BACKEND: 'vulkan' },
        });
        const vulkan = JSON.parse(onVulkan.stdout) as Report;
        check(
          vulkan.backend.startsWith('Vulkan') && vulkan.samples === report.samples,
          `backend 'vulkan' generated on ${vulkan.backend} (${vulkan.runtime.devices.find((d) => d.backend === 'Vulkan')?.description ?? '?'})`,
        );
      }
    }

    // 6. A CUDA module that cannot load (here: not a library at all; for users: no driver or CUDA runtime) must
    // leave the CPU in charge with one clear warning line, and generation must still work.
    const brokenCuda = path.join(installed, 'prebuilds', platformDir, 'libggml-cuda.so');
    fs.writeFileSync(brokenCuda, 'not a shared library');
    const fallback = run(node, ['-e', script], { cwd: project, env });
    const warning = warnings(fallback.stderr).find((line) => line.includes('libggml-cuda.so')) ?? '';
    check(
      /GPU backend libggml-cuda\.so is not usable \(.+\); running on the CPU\./.test(warning),
      `a broken CUDA module gives one warning line: ${warning.trim()}`,
    );
    const degraded = JSON.parse(fallback.stdout) as Report;
    check(
      degraded.samples === report.samples && degraded.runtime.unavailable.some((u) => u.path === brokenCuda),
      'generation still ran on the CPU and runtimeInfo() lists the unusable module',
    );
    console.log('clean-install test passed');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
