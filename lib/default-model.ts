// The smoke-test model shipped inside the package (models/musicgen-smoke-test.gguf): random weights of toy size,
// made by tools/make-default-model.ts when the package is built. It exercises the whole pipeline (tokenizer,
// T5, LM, EnCodec) so `npx musicgen "prompt"` works right after install, but it makes noise, not music.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MusicGenError } from './errors';

export const DEFAULT_MODEL_FILE = 'musicgen-smoke-test.gguf';

/** Where the bundled smoke-test model lives (whether or not it has been built). */
export function defaultModelLocation(): string {
  return path.resolve(__dirname, '..', '..', 'models', DEFAULT_MODEL_FILE);
}

/**
 * Path of the bundled smoke-test model (random weights: it checks an install end to end, it does not make
 * music). Real music needs a converted checkpoint: see the README's "Getting a real model".
 * Throws ERR_MUSICGEN_MODEL_NOT_FOUND when the package was built without it.
 */
export function defaultModelPath(): string {
  const file = defaultModelLocation();
  if (!fs.existsSync(file)) {
    throw new MusicGenError(
      'ERR_MUSICGEN_MODEL_NOT_FOUND',
      `the bundled smoke-test model ${file} is missing; in a clone of the repository run \`npm run build:default-model\`, or pass a model converted with musicgen-convert`,
    );
  }
  return file;
}
