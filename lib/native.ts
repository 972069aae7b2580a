// Loads the native addon and types its surface by hand (the one place JS meets C++).
// Order: $MUSICGEN_NATIVE_ADDON, prebuilds/<platform>-<arch>/*.napi*.node, then build/{Release,Debug}.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MusicGenError } from './errors';

export interface NativeTensorInfo {
  name: string;
  type: string;
  shape: number[];
  offset: number;
  bytes: number;
}

export interface NativeInspectResult {
  metadata: Record<string, unknown>;
  tensors: NativeTensorInfo[];
  fileBytes: number;
  dataOffset: number;
}

export interface NativeAddon {
  ggmlVersion: string;
  quantize(type: string, data: Float32Array, rowLength: number): Buffer;
  inspect(path: string): NativeInspectResult;
}

const packageRoot = path.resolve(__dirname, '..', '..');

function candidatePaths(): string[] {
  const candidates: string[] = [];
  const override = process.env.MUSICGEN_NATIVE_ADDON;
  if (override) candidates.push(path.resolve(override));
  const prebuildDir = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  let prebuilds: string[] = [];
  try {
    prebuilds = fs.readdirSync(prebuildDir).filter((f) => f.endsWith('.node') && f.includes('napi'));
  } catch {
    candidates.push(path.join(prebuildDir, '*.napi.node'));
  }
  candidates.push(...prebuilds.sort().map((f) => path.join(prebuildDir, f)));
  candidates.push(path.join(packageRoot, 'build', 'Release', 'musicgen.node'));
  candidates.push(path.join(packageRoot, 'build', 'Debug', 'musicgen.node'));
  return candidates;
}

let cached: NativeAddon | undefined;

/** The loaded addon; throws ERR_MUSICGEN_ADDON_NOT_FOUND listing every path tried and what to do. */
export function native(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  for (const candidate of candidatePaths()) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate} (not found)`);
      continue;
    }
    try {
      cached = require(candidate) as NativeAddon;
      return cached;
    } catch (error) {
      tried.push(`${candidate} (${(error as Error).message.split('\n')[0]})`);
    }
  }
  throw new MusicGenError(
    'ERR_MUSICGEN_ADDON_NOT_FOUND',
    [
      `musicgen-native could not load its native addon for ${process.platform}-${process.arch} (Node ${process.version}, N-API 8).`,
      'Paths tried:',
      ...tried.map((t) => `  - ${t}`),
      'Possible solutions:',
      '  - Reinstall so the prebuilt binary is unpacked: `npm install musicgen-native --force`.',
      '  - Build from source (needs cmake >= 3.18 and a C++17 compiler): `npm rebuild musicgen-native` or, in a clone, `npm run build:native`.',
      '  - Point MUSICGEN_NATIVE_ADDON at a musicgen.node you built yourself.',
      '  - On Linux, prebuilds need glibc >= 2.31; on musl (Alpine) build from source.',
    ].join('\n'),
  );
}
