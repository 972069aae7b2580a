// `musicgen "prompt" -m facebook/musicgen-small`: the repo is fetched into the Hugging Face cache, converted once
// into our own cache, and that GGUF is reused by every later run of the same commit and type:
//   <MUSICGEN_CACHE, else $XDG_CACHE_HOME/musicgen-native, else ~/.cache/musicgen-native>/models--owner--name/<commit>/<type>.gguf
// (kept out of the HF cache so huggingface_hub's scan/delete tools see only what they wrote). A new commit on the
// branch means a new conversion; HF_HUB_OFFLINE=1 uses the cached snapshot and GGUF.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convertCheckpoint } from './convert';
import type { OutputType } from './quant-policy';
import { repoFolderName } from './hub/cache';
import { downloadCheckpoint, type HubOptions } from './hub/resolve';

/** The type `musicgen -m owner/name` converts to unless told (musicgen-convert's default too). */
export const DEFAULT_CACHED_TYPE: OutputType = 'f16';

export function defaultModelCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MUSICGEN_CACHE) return env.MUSICGEN_CACHE;
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'musicgen-native');
}

export interface ConvertedModelOptions {
  type?: OutputType;
  hub?: HubOptions;
  /** Default: defaultModelCache(). */
  cacheDir?: string;
  onConvertProgress?: (done: number, total: number, tensor: string) => void;
}

export interface ConvertedModel {
  /** The GGUF file to load. */
  path: string;
  /** True when this call converted it (false: reused from the cache). */
  converted: boolean;
  commit: string;
}

/** The GGUF of `repo` (at options.hub.revision) in `type`, fetching and converting only what is not cached yet. */
export async function convertedModel(repo: string, options: ConvertedModelOptions = {}): Promise<ConvertedModel> {
  const type = options.type ?? DEFAULT_CACHED_TYPE;
  const download = await downloadCheckpoint(repo, options.hub);
  const file = path.join(
    options.cacheDir ?? defaultModelCache(),
    repoFolderName(repo),
    download.commit,
    `${type}.gguf`,
  );
  if (fs.existsSync(file)) return { path: file, converted: false, commit: download.commit };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await convertCheckpoint(download.dir, file, {
    type,
    ...(options.onConvertProgress && { onProgress: options.onConvertProgress }),
  });
  return { path: file, converted: true, commit: download.commit };
}
