#!/usr/bin/env node
/**
 * Builds models/musicgen-smoke-test.gguf, the smoke-test model shipped in the npm package: the public fixtures'
 * toy shapes (preset 'tiny') with seeded random weights, written by our own random-checkpoint tool and converted
 * to f16 by the real converter. Deterministic: the same source makes the same bytes. Run by `npm run prepare`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convertCheckpoint } from '../convert/convert';
import { defaultModelLocation } from '../lib/default-model';
import { PRESETS } from './presets';
import { writeRandomCheckpoint } from './random-checkpoint';
import { readPrecompiledCharsmap } from './spiece-writer';

const SEED = 1;
// The nmt_nfkc table T5's tokenizer normalises with; without it the smoke model would not tokenise like T5.
const CHARSMAP_SOURCE = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'tokenizer', 'spiece.model');

export async function makeDefaultModel(out = defaultModelLocation()): Promise<{ file: string; bytes: number }> {
  const charsmap = readPrecompiledCharsmap(fs.readFileSync(CHARSMAP_SOURCE));
  if (!charsmap) throw new Error(`${CHARSMAP_SOURCE} has no precompiled_charsmap`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-default-model-'));
  try {
    // The folder name becomes the model's general.name.
    const checkpoint = path.join(work, 'musicgen-smoke-test');
    writeRandomCheckpoint({
      dir: checkpoint,
      spec: PRESETS.tiny!,
      dtype: 'f32',
      seed: SEED,
      maxShardBytes: Number.MAX_SAFE_INTEGER,
      precompiledCharsmap: charsmap,
    });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await convertCheckpoint(checkpoint, out, { type: 'f16' });
    return { file: out, bytes: fs.statSync(out).size };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  makeDefaultModel().then(
    ({ file, bytes }) => console.log(`musicgen-native: smoke-test model ${file} (${(bytes / 1e6).toFixed(1)} MB)`),
    (error: unknown) => {
      console.error(`make-default-model: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
