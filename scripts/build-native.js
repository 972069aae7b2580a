#!/usr/bin/env node
// Builds the addon through cmake-js (CMakeLists.txt) and copies it to build/Release/musicgen.node,
// where node-gyp-build looks. Used by `npm run build:native` and by binding.gyp's source fallback.
//   --dest DIR      where to put musicgen.node (default build/Release)
//   --cuda          GGML_CUDA=ON (CUDA toolkit needed); MUSICGEN_CUDA_ARCHS picks the archs (default 90); uses
//                   build/cuda-sdk when scripts/cuda-sdk.sh made it (a CUDA 13 toolkit without cuBLAS)
//   --vulkan        GGML_VULKAN=ON, failing when its build tools are missing; --no-vulkan builds without it. By
//                   default the Vulkan backend is built when glslc, the Vulkan loader and Vulkan headers >= 1.3.268
//                   are found (the system's, or .vulkan-sdk from scripts/vulkan-sdk.sh), else the build is
//                   CPU-only and says which tool is missing (docs/building.md)
//   --portable      what prebuilds ship: no -march=native, ggml as shared libraries beside the addon, the CPU
//                   backend built once per instruction-set level and chosen at run time (GGML_BACKEND_DL)
//   --sanitize      ASan + UBSan (+ LSan) build, folder build/cmake-sanitize; used with --dest build/sanitize by
//                   scripts/test-sanitize.sh (npm run test:sanitize, docs/sanitizers.md)
//   --debug         Debug build type
//   --arch arm64    cross-compile for linux-arm64 on an x86-64 Linux machine (Debian's g++-aarch64-linux-gnu,
//                   scripts/toolchain-linux-arm64.cmake); implies --portable, CPU only (docs/prebuilds.md)
// MUSICGEN_BUILD_DIR overrides the CMake build folder (default build/cmake, build/cmake-portable, ...).
// MUSICGEN_ARM_SVE_VARIANTS=1: arm64 portable builds also build ggml's SVE/SME CPU modules (docs/prebuilds.md).
// node-gyp's own arguments (rebuild, --target=..., --release), which prebuildify passes when it runs this
// script as its build command (scripts/prebuild.js), are ignored.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name) || process.env[`MUSICGEN_${name.slice(2).toUpperCase()}`] === '1';
const destIndex = args.indexOf('--dest');
const archIndex = args.indexOf('--arch');
// The architecture to build for: this machine's, or one a cross toolchain here builds for.
const CROSS = {
  arm64: { toolchain: 'toolchain-linux-arm64.cmake', cc: 'aarch64-linux-gnu-gcc', package: 'g++-aarch64-linux-gnu' },
};
const targetArch = archIndex >= 0 ? args[archIndex + 1] : process.arch;
const cross = targetArch === process.arch ? undefined : CROSS[targetArch];
if (targetArch !== process.arch && (!cross || process.platform !== 'linux' || process.arch !== 'x64')) {
  console.error(
    `musicgen-native: cannot build for ${targetArch} on ${process.platform}-${process.arch}; ` +
      `cross builds: ${Object.keys(CROSS).map((a) => `linux-x64 -> linux-${a}`).join(', ')} (docs/prebuilds.md)`,
  );
  process.exit(1);
}
// A cross build is always a portable one: it is a prebuild for another machine.
if (cross) args.push('--portable');
if (cross && spawnSync(cross.cc, ['--version']).status !== 0) {
  console.error(`musicgen-native: --arch ${targetArch} needs ${cross.cc} (Debian: apt-get install ${cross.package})`);
  process.exit(1);
}
const dest = path.resolve(root, destIndex >= 0 ? args[destIndex + 1] : 'build/Release');

function resolvePackageDir(name) {
  try {
    return path.dirname(require.resolve(`${name}/package.json`, { paths: [root] }));
  } catch {
    console.error(`musicgen-native: dependency '${name}' is missing; run \`npm install\` first.`);
    process.exit(1);
  }
}

const ggmlDir = path.join(resolvePackageDir('nodejs-whisper'), 'cpp', 'whisper.cpp', 'ggml');
const cmakeJs = path.join(resolvePackageDir('cmake-js'), 'bin', 'cmake-js');
const outDir = process.env.MUSICGEN_BUILD_DIR
  ? path.resolve(root, process.env.MUSICGEN_BUILD_DIR)
  : path.join(root, 'build', buildFolderName());

function buildFolderName() {
  const parts = ['cmake'];
  if (flag('--portable')) parts.push('portable');
  if (flag('--cuda')) parts.push('cuda');
  if (flag('--sanitize')) parts.push('sanitize');
  if (cross) parts.push(targetArch);
  return parts.join('-');
}

const defines = [`--CDGGML_SOURCE_DIR=${ggmlDir}`];
if (cross) defines.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.join(__dirname, cross.toolchain)}`);
if (flag('--cuda')) {
  defines.push('--CDGGML_CUDA=ON', `--CDCMAKE_CUDA_ARCHITECTURES=${process.env.MUSICGEN_CUDA_ARCHS || '90'}`);
  // build/cuda-sdk from scripts/cuda-sdk.sh (a CUDA 13 toolkit without cuBLAS): cuBLAS headers and link stubs with
  // the CUDA 13 sonames, and the toolkit it was made for. Absent on a machine with a full toolkit: nothing changes.
  const cudaSdk = path.join(root, 'build', 'cuda-sdk');
  if (fs.existsSync(path.join(cudaSdk, 'cuda-sdk.stamp'))) {
    const toolkit = fs.readFileSync(path.join(cudaSdk, 'toolkit-root'), 'utf8').trim();
    defines.push(`--CDMUSICGEN_CUDA_SDK=${cudaSdk}`, `--CDCUDAToolkit_ROOT=${toolkit}`);
    if (!process.env.CUDACXX) defines.push(`--CDCMAKE_CUDA_COMPILER=${path.join(toolkit, 'bin', 'nvcc')}`);
  }
}
const vulkan = vulkanSetup();
defines.push(...vulkan.defines);
if (flag('--portable')) defines.push('--CDMUSICGEN_PORTABLE=ON');
// arm64 portable builds leave ggml's SVE/SME CPU variants out (CMakeLists.txt, docs/prebuilds.md); this builds them,
// for checking them on SVE hardware.
if (process.env.MUSICGEN_ARM_SVE_VARIANTS === '1') defines.push('--CDMUSICGEN_ARM_SVE_VARIANTS=ON');
if (flag('--sanitize')) defines.push('--CDMUSICGEN_SANITIZE=ON');

// cmake-js `compile` only configures a fresh build folder; when the defines differ from those the folder was
// configured with (Vulkan tools installed since, a flag added), CMake is run again on it first (objects are kept).
const configuredWith = path.join(outDir, 'musicgen-defines.json');
const previous = fs.existsSync(configuredWith) ? fs.readFileSync(configuredWith, 'utf8') : undefined;
const fresh = !fs.existsSync(path.join(outDir, 'CMakeCache.txt'));
const commands = fresh || previous === JSON.stringify(defines) ? ['compile'] : ['configure', 'build'];
// Portable builds: ggml's CPU modules are rebuilt (linked) each time, so a module this configuration leaves out
// (CMakeLists.txt: arm64 SVE/SME variants) cannot linger in the build folder and be shipped from an earlier build.
if (flag('--portable')) {
  const bin = path.join(outDir, 'bin');
  for (const name of fs.existsSync(bin) ? fs.readdirSync(bin) : []) {
    if (/^libggml-cpu-.*\.so$/.test(name)) fs.rmSync(path.join(bin, name));
  }
}
const env = {
  ...process.env,
  CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(os.availableParallelism()),
};
for (const command of commands) {
  const cmakeArgs = [command, '--directory', root, '--out', outDir, ...defines];
  if (flag('--debug') || flag('--sanitize')) cmakeArgs.push('--debug');
  const result = spawnSync(process.execPath, [cmakeJs, ...cmakeArgs], { stdio: 'inherit', env, cwd: root });
  if (result.status !== 0) {
    console.error('musicgen-native: native build failed (see above). Needs cmake >= 3.18 and a C++17 compiler.');
    process.exit(result.status ?? 1);
  }
}

fs.writeFileSync(configuredWith, JSON.stringify(defines));

const built = ['bin', 'Release', 'Debug', '.']
  .map((d) => path.join(outDir, d, 'musicgen.node'))
  .find((p) => fs.existsSync(p));
if (!built) {
  console.error(`musicgen-native: build finished but no musicgen.node was found under ${outDir}`);
  process.exit(1);
}
fs.mkdirSync(dest, { recursive: true });
// Copy, then rename over the old file: overwriting a loaded shared library in place changes the pages every process
// using it has mapped, and a test or conversion running beside the rebuild dies with SIGSEGV/SIGBUS.
function install(from, name) {
  const to = path.join(dest, name);
  const staging = `${to}.tmp-${process.pid}`;
  fs.copyFileSync(from, staging);
  fs.renameSync(staging, to);
}
install(built, 'musicgen.node');
for (const lib of [...sharedLibraries(path.dirname(built)), ...openmpRuntime()]) install(lib.file, lib.name);
console.log(`musicgen-native: built ${path.relative(root, path.join(dest, 'musicgen.node'))} (${vulkan.summary})`);

// The Vulkan backend's build tools, or why it is left out. ggml 0.15.1's Vulkan code needs vulkan.hpp with
// vk::LayerSettingEXT (Vulkan headers >= 1.3.268; Debian bookworm has 1.3.239, hence scripts/vulkan-sdk.sh), the
// SPIRV-Headers CMake package, glslc to compile its shaders, and the loader (libvulkan.so.1) to link against.
function vulkanSetup() {
  const off = (why) => ({ defines: ['--CDGGML_VULKAN=OFF'], summary: `CPU only: no Vulkan backend, ${why}` });
  if (args.includes('--no-vulkan') || process.env.MUSICGEN_NO_VULKAN === '1' || flag('--sanitize') || cross) {
    return off(flag('--sanitize') ? 'not in sanitizer builds' : cross ? `not in ${targetArch} cross builds` : 'as asked');
  }
  const missing = [];
  const glslc = spawnSync('glslc', ['--version'], { encoding: 'utf8' });
  if (glslc.status !== 0) missing.push('glslc (Debian: apt-get install glslc)');
  const sdk = path.join(root, '.vulkan-sdk', 'usr');
  const includeDirs = [path.join(sdk, 'include'), '/usr/include', '/usr/local/include'];
  const headers = includeDirs.find((dir) => {
    const hpp = path.join(dir, 'vulkan', 'vulkan.hpp');
    const structs = path.join(dir, 'vulkan', 'vulkan_structs.hpp');
    return [hpp, structs].some(
      (f) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('struct LayerSettingEXT'),
    );
  });
  if (!headers) missing.push('Vulkan headers >= 1.3.268 (run scripts/vulkan-sdk.sh)');
  const spirv = [sdk, '/usr', '/usr/local'].find((prefix) =>
    fs.existsSync(path.join(prefix, 'share', 'cmake', 'SPIRV-Headers', 'SPIRV-HeadersConfig.cmake')),
  );
  if (!spirv) missing.push('SPIRV-Headers (run scripts/vulkan-sdk.sh)');
  const loader = vulkanLoader();
  if (!loader) missing.push('the Vulkan loader libvulkan.so.1 (Debian: apt-get install libvulkan1)');
  if (missing.length > 0) {
    if (flag('--vulkan')) {
      console.error(`musicgen-native: --vulkan needs ${missing.join(', ')}; see docs/building.md`);
      process.exit(1);
    }
    return off(`missing ${missing.join(', ')}`);
  }
  return {
    defines: [
      '--CDGGML_VULKAN=ON',
      `--CDVulkan_INCLUDE_DIR=${headers}`,
      `--CDVulkan_LIBRARY=${loader}`,
      `--CDCMAKE_PREFIX_PATH=${spirv}`,
    ],
    summary: `with the Vulkan backend (headers ${headers})`,
  };
}

function vulkanLoader() {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  for (const dir of dirs) {
    for (const name of ['libvulkan.so', 'libvulkan.so.1']) {
      if (fs.existsSync(path.join(dir, name))) return path.join(dir, name);
    }
  }
  return undefined;
}

// Portable Linux builds: the OpenMP runtime the CPU modules link (GCC's libgomp; its runtime library exception
// allows shipping it), found through their RUNPATH $ORIGIN on machines that have none.
function openmpRuntime() {
  if (!flag('--portable') || process.platform !== 'linux') return [];
  const compiler = cross ? cross.cc : process.env.CC || 'cc';
  const found = spawnSync(compiler, ['-print-file-name=libgomp.so.1'], { encoding: 'utf8' }).stdout?.trim();
  if (!found || !path.isAbsolute(found) || !fs.existsSync(found)) {
    console.error(`musicgen-native: ${compiler} does not know libgomp.so.1; the prebuild needs it beside the addon`);
    process.exit(1);
  }
  return [{ name: 'libgomp.so.1', file: fs.realpathSync(found) }];
}

// Portable builds: ggml's shared libraries and backend modules, each copied as a plain file under the name
// the loader asks for (libggml.so.0 is a symlink chain ending in libggml.so.0.15.1; npm packs no symlinks).
function sharedLibraries(dir) {
  if (!flag('--portable')) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /^(lib)?ggml.*(\.so\.\d+|-[\w.]+\.so|\.dylib|\.dll)$/.test(name))
    .filter((name) => !/^libggml(-base)?\.so$/.test(name)) // link-time names only; the loader asks for .so.0
    .map((name) => ({ name, file: fs.realpathSync(path.join(dir, name)) }));
}
