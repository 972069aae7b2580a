// Every input the fuzzers ever crashed on (test/fuzz-regressions/<target>/*, see docs/fuzzing.md) replayed
// through its target: it must be accepted or rejected with the target's typed error, never anything else.
// Native harness folders (gguf_load_fuzzer, tokenizer_fuzzer, charsmap_fuzzer) replay through the addon's
// equivalent path, and through the libFuzzer binary too when build/fuzz has it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { MusicGenError } from '../lib/errors';
import { prepareSeeds, REPO } from '../tools/fuzz/seeds';
import { isTypedRejection, targetByName, type TargetInstance } from '../tools/fuzz/targets';

const REGRESSIONS = path.join(REPO, 'test', 'fuzz-regressions');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-fuzz-regressions-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// libFuzzer harness -> the TypeScript target that drives the same native code through the addon.
const NATIVE_EQUIVALENT: Record<string, string> = { gguf_load_fuzzer: 'gguf', tokenizer_fuzzer: 'tokenize' };

const folders = fs.existsSync(REGRESSIONS)
  ? fs
      .readdirSync(REGRESSIONS, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
  : [];
const inputsOf = (folder: string) =>
  fs
    .readdirSync(path.join(REGRESSIONS, folder))
    .filter((f) => !f.endsWith('.txt') && !f.endsWith('.md'))
    .sort();

t.test('every regression folder names a fuzz target and holds inputs', async (t) => {
  t.ok(folders.length > 0, 'test/fuzz-regressions has inputs');
  for (const folder of folders) {
    t.ok(targetByName(folder) || folder in NATIVE_EQUIVALENT || folder === 'charsmap_fuzzer', `${folder} is a target`);
    t.ok(inputsOf(folder).length > 0, `${folder} is not empty`);
  }
});

for (const folder of folders) {
  t.test(`${folder}: replayed inputs end in success or a typed error`, async (t) => {
    const target = targetByName(NATIVE_EQUIVALENT[folder] ?? folder);
    // GGUF inputs also go through the sanitizer build of the loader (undefined behaviour shows only there).
    const binary = path.join(REPO, 'build', 'fuzz', folder === 'gguf' ? 'gguf_load_fuzzer' : folder);
    if (fs.existsSync(binary)) {
      // The libFuzzer binary runs the files given as arguments once each and exits 0 when none crashes.
      // Only tokenizer_fuzzer needs a model (its tokenizer); the others ignore MUSICGEN_FUZZ_MODEL.
      const model = folder === 'tokenizer_fuzzer' ? (await prepareSeeds(path.join(tmp, 'cache'))).tokenizerModel : '';
      const files = inputsOf(folder).map((f) => path.join(REGRESSIONS, folder, f));
      const run = spawnSync(binary, files, {
        encoding: 'utf8',
        env: { ...process.env, MUSICGEN_FUZZ_MODEL: model },
      });
      t.equal(run.status, 0, `${folder} binary replays cleanly${run.status ? `:\n${run.stderr.slice(-4000)}` : ''}`);
    }
    if (!target) return; // charsmap_fuzzer has no addon equivalent: the binary above is its replay
    // Only tokenize needs its seeds (the model whose tokenizer it drives); the others execute inputs as they are.
    const instance: TargetInstance = await target.create(
      target.name === 'tokenize' ? await prepareSeeds(path.join(tmp, 'cache')) : emptySeeds(),
    );
    try {
      for (const name of inputsOf(folder)) {
        const file = path.join(REGRESSIONS, folder, name);
        let bytes = fs.readFileSync(file);
        if (folder === 'tokenizer_fuzzer') bytes = Buffer.from(JSON.stringify(bytes.toString('utf8')));
        const copy = path.join(tmp, `input${target.ext}`);
        fs.writeFileSync(copy, bytes);
        try {
          await instance.execute(copy, bytes);
          t.pass(`${name}: accepted`);
        } catch (error) {
          t.ok(isTypedRejection(target, error), `${name}: ${describe(error)}`);
        }
      }
    } finally {
      instance.dispose?.();
    }
  });
}

// Targets other than tokenize need no seeds to execute an input.
function emptySeeds() {
  return {
    dir: tmp,
    gguf: [],
    tokenizerModel: '',
    safetensors: [],
    torchZip: [],
    pickle: [],
    spiece: [],
    wav: [],
    charsmap: '',
  };
}

function describe(error: unknown): string {
  if (error instanceof MusicGenError) return `${error.code}: ${error.message}`;
  return `untyped ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
}
