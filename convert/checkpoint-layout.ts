// Which kind of conversion input a local path holds: a Hugging Face MusicGen folder, an audiocraft export (what
// fine-tunes ship), or a GGUF file musicgen-convert wrote. Decided from the files alone, before any is parsed, so the
// CLI and convertCheckpoint can route an input (or name the right function for it) without importing the readers.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** audiocraft's LM file (audiocraft.utils.export.export_lm). */
export const AUDIOCRAFT_LM_FILE = 'state_dict.bin';

/** True when `dir` looks like an audiocraft export (holds state_dict.bin and no HF config.json), or is its state_dict.bin. */
export function isAudiocraftDir(dir: string): boolean {
  if (path.basename(dir) === AUDIOCRAFT_LM_FILE && fs.existsSync(dir) && fs.statSync(dir).isFile()) return true;
  return fs.existsSync(path.join(dir, AUDIOCRAFT_LM_FILE)) && !fs.existsSync(path.join(dir, 'config.json'));
}

/** The export folder of `spec`: the folder itself, or the folder of a state_dict.bin named directly. */
export function exportDir(spec: string): string {
  return path.basename(spec) === AUDIOCRAFT_LM_FILE && fs.existsSync(spec) && fs.statSync(spec).isFile()
    ? path.dirname(spec)
    : spec;
}

/** A converted GGUF (a LoRA base, re-encoded) rather than a checkpoint folder: a file starting with the GGUF magic. */
export function isGgufFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    const fd = fs.openSync(file, 'r');
    try {
      const magic = Buffer.alloc(4);
      return fs.readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}
