// Loads the native addon: finds the .node file, registers ggml's backend modules, and says what to do when no
// addon loads. Order: $MUSICGEN_NATIVE_ADDON, build/{Release,Debug} (a source build), then
// prebuilds/<platform>-<arch>/*.node. The types of what it returns are in lib/native-types.ts (re-exported here for
// callers), its diagnostics entry points in lib/native-diagnostics.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binaryTarget, type BinaryTarget } from './binary-target';
import { MusicGenError } from './errors';
import type { NativeAddon, NativeBackendModules } from './native-types';

export type * from './native-types';

const packageRoot = path.resolve(__dirname, '..', '..');
// The newest glibc symbol version the linux-x64 prebuild needs (`objdump -T`; docs/prebuilds.md); it also needs
// GCC 12's libstdc++ (GLIBCXX_3.4.30).
const PREBUILD_MIN_GLIBC = '2.34';

// libc of this process: prebuilds tagged for the other one are skipped (musl builds cannot load glibc ones).
function libc(): 'glibc' | 'musl' | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

// prebuildify's names: <package>[.<tag>...].node, e.g. musicgen-native.glibc.node.
function prebuildMatches(file: string): boolean {
  if (!file.endsWith('.node')) return false;
  const tags = file.slice(0, -'.node'.length).split('.').slice(1);
  const wanted = libc();
  return !tags.some((tag) => (tag === 'glibc' || tag === 'musl') && tag !== wanted);
}

// The prebuilt platforms this copy of the package carries, e.g. ['linux-arm64 (glibc)', 'linux-x64 (glibc)']: the
// folders under prebuilds/ with the libc tags of their addons (prebuildify's --tag-libc).
export function prebuiltPlatforms(root = packageRoot): string[] {
  let folders: string[] = [];
  try {
    folders = fs.readdirSync(path.join(root, 'prebuilds')).sort();
  } catch {
    return []; // a clone or a source-only copy: no prebuilds/ at all
  }
  return folders.flatMap((folder) => {
    let addons: string[] = [];
    try {
      addons = fs.readdirSync(path.join(root, 'prebuilds', folder)).filter((f) => f.endsWith('.node'));
    } catch {
      return [];
    }
    if (addons.length === 0) return [];
    const tags = [...new Set(addons.flatMap((f) => f.slice(0, -'.node'.length).split('.').slice(1)))].sort();
    return [tags.length > 0 ? `${folder} (${tags.join(', ')})` : folder];
  });
}

// This process's platform as the prebuilds name theirs, e.g. 'linux-arm64 (glibc)'.
function thisPlatform(): string {
  const c = libc();
  return `${process.platform}-${process.arch}${c ? ` (${c})` : ''}`;
}

// What the failure message says about prebuilds: the ones shipped, and whether one was meant for this platform.
function prebuildSummary(): string {
  const shipped = prebuiltPlatforms();
  const here = `${process.platform}-${process.arch}`;
  if (shipped.length === 0)
    return 'This copy of musicgen-native carries no prebuilt binaries (a clone or a source-only copy).';
  const list = `Prebuilt platforms in this package: ${shipped.join(', ')}.`;
  const ours = shipped.find((p) => p === here || p.startsWith(`${here} `));
  if (!ours) return `No prebuilt binary fits ${thisPlatform()}. ${list} Elsewhere musicgen-native builds from source.`;
  const c = libc();
  if (c && !ours.includes(c)) return `The ${here} prebuild is not for ${c}. ${list}`;
  return `The ${ours} prebuild is there but did not load (see the reason above). ${list}`;
}

// Like node-gyp-build: an explicit override first, then a local source build (a user who ran `npm rebuild`
// wants it), then the prebuilt binary shipped in the package.
function candidatePaths(): string[] {
  const candidates: string[] = [];
  const override = process.env.MUSICGEN_NATIVE_ADDON;
  if (override) candidates.push(path.resolve(override));
  candidates.push(path.join(packageRoot, 'build', 'Release', 'musicgen.node'));
  candidates.push(path.join(packageRoot, 'build', 'Debug', 'musicgen.node'));
  const prebuildDir = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  let prebuilds: string[] = [];
  try {
    prebuilds = fs.readdirSync(prebuildDir).filter(prebuildMatches);
  } catch {
    // no prebuilds for this platform: reported as the path below
  }
  if (prebuilds.length === 0) candidates.push(path.join(prebuildDir, '*.node'));
  candidates.push(...prebuilds.sort().map((f) => path.join(prebuildDir, f)));
  return candidates;
}

let cached: NativeAddon | undefined;
let cachedFile: string | undefined;
let cachedTarget: BinaryTarget | undefined;
let modules: NativeBackendModules | undefined;

/** Folders besides the addon's own that may hold GPU backend modules ($MUSICGEN_BACKEND_DIR, path-delimited). */
function extraBackendDirs(): string[] {
  return (process.env.MUSICGEN_BACKEND_DIR ?? '').split(path.delimiter).filter((d) => d !== '');
}

// A GPU module that is present but unusable (no driver, missing CUDA runtime) leaves the CPU in charge:
// say so once, as a process warning the application can observe or silence.
function warnAboutFailedModules(found: NativeBackendModules): void {
  for (const failure of found.failed) {
    // ggml says "failed to load <path>: <dlerror>", and dlerror repeats the path: keep the reason.
    const reason = failure.reason
      .split(`${failure.path}: `)
      .join('')
      .replace(/^failed to load /, '');
    process.emitWarning(
      `musicgen-native: GPU backend ${path.basename(failure.path)} is not usable (${reason}); running on the CPU.`,
      { code: 'MUSICGEN_BACKEND_UNAVAILABLE', detail: failure.path },
    );
  }
}

/** The loaded addon; throws ERR_MUSICGEN_ADDON_NOT_FOUND listing every path tried and what to do. */
export function native(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  for (const candidate of candidatePaths()) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate} (not found)`);
      continue;
    }
    let addon: NativeAddon;
    try {
      addon = require(candidate) as NativeAddon;
    } catch (error) {
      tried.push(`${candidate} (${(error as Error).message.split('\n')[0]})`);
      continue;
    }
    modules = addon.loadBackends(path.dirname(candidate), extraBackendDirs());
    warnAboutFailedModules(modules);
    cached = addon;
    cachedFile = candidate;
    cachedTarget = binaryTarget(candidate);
    return addon;
  }
  throw new MusicGenError(
    'ERR_MUSICGEN_ADDON_NOT_FOUND',
    [
      `musicgen-native could not load its native addon for ${thisPlatform()} (Node ${process.version}, N-API 8).`,
      'Paths tried:',
      ...tried.map((t) => `  - ${t}`),
      prebuildSummary(),
      'Possible solutions:',
      '  - Reinstall so the prebuilt binary is unpacked: `npm install musicgen-native --force`.',
      '  - Build from source (needs cmake >= 3.18 and a C++17 compiler): `npm rebuild musicgen-native` or, in a clone, `npm run build:native`.',
      '  - Point MUSICGEN_NATIVE_ADDON at a musicgen.node you built yourself.',
      `  - On Linux, prebuilds need glibc >= ${PREBUILD_MIN_GLIBC} and libstdc++ from GCC >= 12; otherwise, and on musl (Alpine), build from source.`,
    ].join('\n'),
  );
}

/** The addon file in use, what it was built for, and the ggml backends it registered (loads the addon if needed). */
export function nativeRuntime(): { file: string; target: BinaryTarget; ggmlVersion: string } & NativeBackendModules {
  const addon = native();
  return {
    file: cachedFile ?? '',
    target: cachedTarget as BinaryTarget,
    ggmlVersion: addon.ggmlVersion,
    ...(modules as NativeBackendModules),
  };
}
