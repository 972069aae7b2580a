// Every "folder, repo id or GGUF" argument of the converter (the base model, each --lora adapter) goes through
// locateCheckpoint, so a Hugging Face repo id is resolved in exactly one place.
import * as fs from 'node:fs';
import { ConvertError } from '../lib/errors';

/** `owner/name` as the hub spells repo ids (no leading dot or slash, exactly one slash). */
const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function isRepoId(spec: string): boolean {
  return REPO_ID.test(spec) && !spec.includes('..');
}

/**
 * The local path behind `spec`: an existing folder or file is returned as is; an `owner/name` repo id that is
 * not a local path is downloaded (once issue 15's hub client is merged); any other path is returned unchanged, so
 * the reader that needs a file names it when it is missing.
 * `what` names the argument in messages (`base model`, `--lora adapter`).
 */
export async function locateCheckpoint(spec: string, what: string): Promise<string> {
  if (spec === '') throw new ConvertError(`${what}: empty path`);
  if (fs.existsSync(spec)) return spec;
  if (isRepoId(spec)) {
    // INTEGRATION POINT (issue 15): return resolveCheckpointDir(spec, {}) from './hub/resolve' here; it returns
    // the downloaded snapshot folder. Until that branch is merged a repo id is refused.
    throw new ConvertError(
      `${what} '${spec}' is not a local folder, and downloading Hugging Face repo ids is not available in this build; download it first (huggingface-cli download ${spec} --local-dir <dir>) and pass the folder`,
    );
  }
  return spec; // a missing local path: the readers name the file they could not open
}
