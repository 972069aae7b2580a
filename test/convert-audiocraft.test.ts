// audiocraft exports (state_dict.bin + compression_state_dict.bin) converted with --base: the pointer form, with
// the HF folder or its GGUF as base, must give exactly the tensors of converting the HF folder (mono, stereo,
// melody); the full form's EnCodec must equal the HF codec and its float16 LM the fp16 conversion; every
// unsupported input is a ConvertError that leaves no output behind. Sizes come from the fixtures, not constants.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { convertAudiocraft, type AudiocraftConvertOptions } from '../convert/audiocraft/convert';
import { generateCodes } from '../lib/generation-job';
import { native } from '../lib/native';
import { copyExport, copyWithXpCfg, pickleOf, renameKey, writeTorchArchive } from './helpers/audiocraft-edit';
import { fixture } from './helpers/fixture';
import { readGguf, tensorBytes, tensorF32, type GgufFile } from './helpers/gguf-reader';
import { readForPatch, u32Value, writePatched } from './helpers/gguf-patch';
import { HubServer } from './helpers/hub-server';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const CLI = path.join(ROOT, 'dist', 'convert', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-convert-audiocraft-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hfDir = (model: string) => path.join(FIXTURES, model);
const acDir = (model: string, form = 'audiocraft') => path.join(FIXTURES, model, form);
let counter = 0;
const outFile = (label: string) => path.join(fs.mkdtempSync(path.join(tmp, `${label}-${counter++}-`)), 'out.gguf');

/** The HF folder converted with `type`, made once per (model, type). */
const references = new Map<string, string>();
async function reference(model: string, type: 'f32' | 'f16' | 'q8_0', dir = hfDir(model)): Promise<string> {
  const key = `${dir}:${type}`;
  if (!references.has(key)) {
    const file = path.join(tmp, `ref-${counter++}.gguf`);
    await convertCheckpoint(dir, file, { type });
    references.set(key, file);
  }
  return references.get(key)!;
}

const json = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x));

/** Same tensor names in the same order, same types, dims and bytes (restricted to names matching `only`). */
function sameTensors(t: Test, got: GgufFile, want: GgufFile, only = /./, label = 'tensors'): number {
  const names = (f: GgufFile) => f.tensors.filter((x) => only.test(x.name)).map((x) => x.name);
  t.same(names(got), names(want), `${label}: same names in the same order`);
  const differing = got.tensors
    .filter((x) => only.test(x.name))
    .filter((x) => {
      const w = want.tensors.find((y) => y.name === x.name);
      return (
        !w ||
        w.type !== x.type ||
        json(w.dims) !== json(x.dims) ||
        !tensorBytes(got, x.name).equals(tensorBytes(want, x.name))
      );
    })
    .map((x) => x.name);
  t.same(differing, [], `${label}: every tensor bit-identical (type, dims, bytes)`);
  return names(got).length;
}

/** Same metadata keys and values, except general.name (the checkpoint folder's name). */
function sameMetadata(t: Test, got: GgufFile, want: GgufFile): void {
  const entries = (f: GgufFile) => [...f.metadata].filter(([k]) => k !== 'general.name').map(([k, v]) => [k, json(v)]);
  t.same(entries(got), entries(want), 'metadata identical apart from general.name');
}

/** A refusal: ConvertError (code ERR_MUSICGEN_CONVERT) matching `message`, nothing left in the output folder. */
async function refuses(t: Test, dir: string, options: AudiocraftConvertOptions, message: RegExp, label: string) {
  const out = outFile('refused');
  await t.rejects(
    convertAudiocraft(dir, out, options),
    { name: 'ConvertError', code: 'ERR_MUSICGEN_CONVERT', message },
    label,
  );
  t.same(fs.readdirSync(path.dirname(out)), [], `${label}: no output or temp file`);
}

for (const model of ['musicgen-tiny', 'musicgen-stereo-tiny', 'musicgen-melody-tiny']) {
  t.test(`${model}: pointer form == converting the HF folder, with --base the folder or its GGUF`, async (t) => {
    const types = model === 'musicgen-tiny' ? (['f16', 'f32', 'q8_0'] as const) : (['f16'] as const);
    for (const type of types) {
      const ref = await reference(model, type);
      const want = readGguf(ref);
      const fromFolder = outFile('folder');
      const r1 = await convertAudiocraft(acDir(model), fromFolder, { base: hfDir(model), type });
      t.equal(r1.type, type);
      const n = sameTensors(t, readGguf(fromFolder), want, /./, `${type}, --base HF folder`);
      t.ok(n > 0, `${n} tensors compared`);
      sameMetadata(t, readGguf(fromFolder), want);
      // No --type: the base GGUF's type is kept.
      const fromGguf = outFile('gguf');
      const r2 = await convertAudiocraft(acDir(model), fromGguf, { base: ref });
      t.equal(r2.type, type, 'type defaults to the base GGUF type');
      sameTensors(t, readGguf(fromGguf), want, /./, `${type}, --base GGUF`);
      sameMetadata(t, readGguf(fromGguf), want);
      t.equal(readGguf(fromGguf).metadata.get('general.name'), 'audiocraft', 'named after the checkpoint folder');
    }
  });
}

t.test('an f16 GGUF base re-encodes its T5 / codec exactly for --type f32', async (t) => {
  const model = 'musicgen-tiny';
  const out = outFile('f32-from-f16');
  await convertAudiocraft(acDir(model), out, { base: await reference(model, 'f16'), type: 'f32' });
  const got = readGguf(out);
  const want = readGguf(await reference(model, 'f32'));
  // The LM comes from the float32 checkpoint: exact. T5 / codec matrices went through f16 in the base.
  sameTensors(t, got, want, /^(lm|cond)\./, 'LM');
  const f16 = readGguf(await reference(model, 'f16'));
  const matrix = f16.tensors.find((x) => x.name.startsWith('t5.') && x.type === 1)!;
  const halves = tensorBytes(f16, matrix.name);
  const floats = tensorBytes(got, matrix.name);
  t.equal(floats.length, halves.length * 2, `${matrix.name} stored as f32`);
});

t.test(
  'the full form: EnCodec from the file equals the HF codec, the float16 LM equals the fp16 conversion',
  async (t) => {
    for (const model of ['musicgen-tiny', 'musicgen-melody-tiny']) {
      const out32 = outFile('full32');
      await convertAudiocraft(acDir(model, 'audiocraft-full'), out32, { base: hfDir(model), type: 'f32' });
      sameTensors(
        t,
        readGguf(out32),
        readGguf(await reference(model, 'f32')),
        /^(codec|t5)\./,
        `${model} codec + T5, f32`,
      );
      const out16 = outFile('full16');
      await convertAudiocraft(acDir(model, 'audiocraft-full'), out16, {
        base: await reference(model, 'f16'),
        type: 'f16',
      });
      const got = readGguf(out16);
      sameTensors(t, got, readGguf(await reference(model, 'f16')), /^(codec|t5)\./, `${model} codec + T5, f16`);
      // Matrices the policy stores as f16 are the same bits whether rounded by torch (the checkpoint) or by ggml.
      const f16Matrices = readGguf(await reference(model, 'f16')).tensors.filter(
        (x) => /^lm\./.test(x.name) && x.type === 1,
      );
      t.ok(f16Matrices.length > 0);
      const re = new RegExp(`^(${f16Matrices.map((x) => x.name.replace(/\./g, '\\.')).join('|')})$`);
      sameTensors(t, got, readGguf(await reference(model, 'f16')), re, `${model} f16 LM matrices`);
    }
    // musicgen-tiny has an fp16 HF folder: every LM tensor but the (computed, f32) position table matches it.
    const out = outFile('full-fp16');
    await convertAudiocraft(acDir('musicgen-tiny', 'audiocraft-full'), out, {
      base: hfDir('musicgen-tiny'),
      type: 'f16',
    });
    const fp16 = readGguf(await reference('musicgen-tiny', 'f16', path.join(hfDir('musicgen-tiny'), 'fp16')));
    sameTensors(t, readGguf(out), fp16, /^(lm|cond)\.(?!pos_embd)/, 'LM vs fp16/ conversion');
    sameTensors(t, readGguf(out), readGguf(await reference('musicgen-tiny', 'f16')), /^lm\.pos_embd/, 'position table');
  },
);

t.test(
  'a base without a fitting position table: the sinusoids are computed (to float32 rounding of the HF table)',
  async (t) => {
    const model = 'musicgen-tiny';
    const ref = await reference(model, 'f32');
    const gguf = readForPatch(ref);
    gguf.tensors = gguf.tensors.filter((x) => x.name !== 'lm.pos_embd.weight');
    const base = path.join(tmp, `no-positions-${counter++}.gguf`);
    writePatched(base, gguf);
    const out = outFile('positions');
    await convertAudiocraft(acDir(model), out, { base });
    const got = readGguf(out);
    const want = readGguf(ref);
    sameTensors(t, got, want, /^(?!lm\.pos_embd)/, 'all but the position table');
    const a = tensorF32(got, 'lm.pos_embd.weight');
    const b = tensorF32(want, 'lm.pos_embd.weight');
    t.equal(a.length, b.length, 'same size');
    // torch's float32 exp may round a frequency 1 ulp away from ours; the angle p*f then drifts with p (the
    // reference notes give 1.4e-4 at position 2047 between float32 and exact evaluation): bound early rows apart.
    const width = got.tensors.find((x) => x.name === 'lm.pos_embd.weight')!.dims[0]!;
    let early = 0;
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      worst = Math.max(worst, d);
      if (i < 50 * width) early = Math.max(early, d);
    }
    t.ok(early <= 1e-5, `first 50 positions: max |difference| ${early} <= 1e-5`);
    t.ok(worst <= 2.5e-4, `all positions: max |difference| ${worst} <= 2.5e-4`);
  },
);

t.test('the CLI: <audiocraft dir> --base <gguf> -o out.gguf', async (t) => {
  const ref = await reference('musicgen-stereo-tiny', 'f16');
  const out = outFile('cli');
  const r = spawnSync(process.execPath, [CLI, acDir('musicgen-stereo-tiny'), '--base', ref, '-o', out, '--json'], {
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { type: string; tensors: number };
  t.equal(result.type, 'f16');
  t.equal(result.tensors, readGguf(ref).tensors.length);
  sameTensors(t, readGguf(out), readGguf(ref));

  const byFile = outFile('cli-file');
  const direct = spawnSync(
    process.execPath,
    [CLI, path.join(acDir('musicgen-stereo-tiny'), 'state_dict.bin'), '--base', ref, '-o', byFile],
    { encoding: 'utf8' },
  );
  t.equal(direct.status, 0, `state_dict.bin named directly: ${direct.stderr}`);
  sameTensors(t, readGguf(byFile), readGguf(ref), /./, 'state_dict.bin named directly');
  await t.rejects(
    convertCheckpoint(acDir('musicgen-tiny'), outFile('as-hf')),
    { code: 'ERR_MUSICGEN_CONVERT', message: /is an audiocraft export .*convertAudiocraft/ },
    'convertCheckpoint points at convertAudiocraft',
  );

  const missing = spawnSync(process.execPath, [CLI, acDir('musicgen-tiny'), '-o', outFile('cli-missing')], {
    encoding: 'utf8',
  });
  t.equal(missing.status, 1);
  t.match(
    missing.stderr,
    /^musicgen-convert: error: .*audiocraft: an audiocraft checkpoint holds the LM only; .*--base/,
  );
  const misplaced = spawnSync(process.execPath, [CLI, hfDir('musicgen-tiny'), '--base', ref, '-o', outFile('cli-hf')], {
    encoding: 'utf8',
  });
  t.equal(misplaced.status, 2, '--base with an HF folder is a usage error');
  t.match(misplaced.stderr, /--base applies to an audiocraft export/);
});

t.test('the converted mono model generates the HF greedy codes', async (t) => {
  const mono = fixture('musicgen-tiny');
  const out = outFile('generate');
  await convertAudiocraft(acDir('musicgen-tiny'), out, { base: hfDir('musicgen-tiny'), type: 'f32' });
  const model = await native().loadModel(out, { backend: 'cpu', threads: 2 });
  t.teardown(() => model.dispose());
  const expected = mono.golden('greedy_cfg3_codes');
  const frames = expected.shape[2]!;
  const guidanceScale = Number(/guidance_scale=([\d.]+)/.exec(mono.describe('greedy_cfg3_codes'))?.[1]);
  const results = await generateCodes(model, mono.prompts, { frames, topK: 1, guidanceScale });
  t.same(
    results.flatMap((r) => Array.from(r.data)),
    Array.from(expected.data as ArrayLike<number>),
    'greedy codes identical to the HF golden',
  );
});

t.test('refusals: ConvertError naming the problem, no output', async (t) => {
  const mono = acDir('musicgen-tiny');
  const base = hfDir('musicgen-tiny');
  await refuses(
    t,
    mono,
    { base: '' },
    /holds the LM only; the T5 text encoder, tokenizer and EnCodec come from --base/,
    'missing --base (pointer form)',
  );
  await refuses(
    t,
    acDir('musicgen-tiny', 'audiocraft-full'),
    { base: '' },
    /the T5 text encoder and tokenizer come from --base/,
    'missing --base (full form)',
  );
  await t.rejects(
    convertAudiocraft(mono, outFile('offline'), {
      base: 'facebook/musicgen-small-not-here',
      hub: { offline: true, cacheDir: path.join(tmp, 'empty-hub-cache') },
    }),
    { name: 'HubError', code: 'ERR_MUSICGEN_CONVERT', reason: 'offline', message: /not in the cache/ },
    'a base repo id neither cached nor reachable (offline)',
  );
  await refuses(t, mono, { base: path.join(tmp, 'nothing') }, /no such file or folder/, 'missing base');

  // Containers that are not an exported LM.
  const cfg = 'solver: musicgen\nlm_model: transformer_lm\n';
  const containers: Array<[string, Parameters<typeof pickleOf>[0], RegExp]> = [
    [
      'training checkpoint',
      { model: {}, optimizer: {}, 'xp.cfg': cfg },
      /no 'best_state'.*top-level keys: model, optimizer, xp\.cfg.*export_lm/,
    ],
    [
      'training checkpoint with best_state',
      { best_state: { model: {} }, model: {}, 'xp.cfg': cfg },
      /a training checkpoint.*export_lm/,
    ],
    [
      'fsdp_best_state',
      { best_state: {}, fsdp_best_state: { model: {} }, 'xp.cfg': cfg },
      /'fsdp_best_state'.*FSDP.*export_lm/,
    ],
    ['nested best_state', { best_state: { model: {} }, 'xp.cfg': cfg }, /nests a 'model' dict/],
    ['no xp.cfg', { best_state: {}, version: '1.3.0' }, /'xp\.cfg' is missing/],
    ['xp.cfg not YAML', { best_state: {}, 'xp.cfg': 'a: [' }, /xp\.cfg is not valid YAML/],
    ['not a dict', 'just a string', /the pickle is not a dict/],
    [
      'OmegaConf object',
      { best_state: {}, 'xp.cfg': { global: ['omegaconf.dictconfig', 'DictConfig'] } },
      /omegaconf\.dictconfig DictConfig.*not allowed.*nothing was executed.*export_lm/,
    ],
  ];
  for (const [label, value, message] of containers) {
    const dir = path.join(tmp, `container-${counter++}`);
    writeTorchArchive(path.join(dir, 'state_dict.bin'), pickleOf(value));
    await refuses(t, dir, { base }, message, label);
  }

  // xp.cfg settings the converter cannot honour, or that contradict the tensors.
  const edits: Array<[string, (y: string) => string, RegExp]> = [
    [
      'another solver',
      (y) => y.replace(/^solver: .*$/m, 'solver: audiogen'),
      /xp\.cfg solver is "audiogen", expected "musicgen"/,
    ],
    [
      'another LM class',
      (y) => y.replace(/^lm_model: .*$/m, 'lm_model: magnet_lm'),
      /xp\.cfg lm_model is "magnet_lm", expected "transformer_lm"/,
    ],
    [
      'attention biases',
      (y) => y.replace(/^( {2}bias_attn:) .*$/m, '$1 true'),
      /transformer_lm\.bias_attn is true, expected false/,
    ],
    [
      'another pattern',
      (y) => y.replace(/^( {2}modeling:) .*$/m, '$1 unroll'),
      /codebooks_pattern\.modeling is "unroll"/,
    ],
    [
      'another fuser',
      (y) =>
        y
          .replace(/^( {2}cross:)\n {2}- description$/m, '$1 []')
          .replace(/^( {2}prepend:) \[\]$/m, '$1\n  - description'),
      /xp\.cfg fuser is .*expected cross: \[description\] \(text MusicGen\) or prepend: \[self_wav, description\]/,
    ],
    [
      'dim vs shapes',
      (y) => y.replace(/^( {2}dim:) (\d+)$/m, (_, k: string, n: string) => `${k} ${Number(n) + 8}`),
      /xp\.cfg transformer_lm\.card=\d+, transformer_lm\.dim=\d+ but tensor 'emb\.0\.weight' has shape \[\d+, \d+\], expected/,
    ],
    [
      'hidden_scale vs shapes',
      (y) => y.replace(/^( {2}hidden_scale:) (.+)$/m, (_, k: string, n: string) => `${k} ${Number(n) * 2}`),
      /hidden_scale\*dim\)=\d+.*'transformer\.layers\.0\.linear1\.weight' has shape/,
    ],
    [
      'num_layers vs shapes',
      (y) => y.replace(/^( {2}num_layers:) (\d+)$/m, (_, k: string, n: string) => `${k} ${Number(n) + 1}`),
      /num_layers=\d+ but best_state holds \d+ transformer layers/,
    ],
    [
      'interpolation',
      (y) => y.replace(/^sample_rate: .*$/m, 'sample_rate: ${oc.env:RATE}'),
      /xp\.cfg sample_rate is "\$\{oc\.env:RATE\}", expected a value or a plain \$\{key\} interpolation/,
    ],
  ];
  for (const [label, edit, message] of edits) {
    const dir = path.join(tmp, `edit-${counter++}`);
    copyWithXpCfg(mono, dir, edit);
    await refuses(t, dir, { base }, message, label);
  }

  // A best_state tensor with no HF counterpart; a chroma window that is not the Hann window.
  const renamed = path.join(tmp, `renamed-${counter++}`);
  renameKey(mono, renamed, 'out_norm.bias', 'out_norm.biaz');
  await refuses(
    t,
    renamed,
    { base },
    /best_state holds tensors with no place in a MusicGen model: out_norm\.biaz/,
    'unknown tensor',
  );
  const melody = acDir('musicgen-melody-tiny');
  const badWindow = path.join(tmp, `window-${counter++}`);
  let found = 0;
  copyExport(melody, badWindow, (name, data) => {
    const n = data.length / 4;
    if (!/\/data\/\d+$/.test(name) || n < 16 || !Number.isInteger(n)) return data;
    const w = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    const hann = (i: number) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
    if (![1, n >> 2, n >> 1].every((i) => Math.abs(w[i]! - hann(i)) < 1e-6)) return data;
    found++;
    w[n >> 2] = 0.75; // Hann is 0.5 there
    return Buffer.from(w.buffer);
  });
  t.equal(found, 1, 'the chroma window storage found');
  await refuses(
    t,
    badWindow,
    { base: hfDir('musicgen-melody-tiny') },
    /chroma\.spec\.window' is not the periodic Hann window/,
    'not a Hann window',
  );

  // A base of another codec or text encoder.
  const ref = await reference('musicgen-tiny', 'f16');
  const patched = (key: string, bump: (n: number) => number) => {
    const gguf = readForPatch(ref);
    const raw = gguf.metadata.get(key)!;
    gguf.metadata.set(key, u32Value(bump(raw.readUInt32LE(4))));
    const file = path.join(tmp, `patched-${counter++}.gguf`);
    writePatched(file, gguf);
    return file;
  };
  await refuses(
    t,
    mono,
    { base: patched('musicgen.codec.quantizer_count', (n) => n + 1) },
    /does not fit the EnCodec of --base .*quantizers=\d+.*base of another codec/,
    'base codec: other quantizer count',
  );
  await refuses(
    t,
    mono,
    { base: patched('musicgen.codec.codebook_size', (n) => n * 2) },
    /transformer_lm\.card=\d+ does not fit the EnCodec.*codebook size/,
    'base codec: other codebook size',
  );
  await refuses(
    t,
    mono,
    { base: patched('musicgen.t5.embedding_length', (n) => n * 2) },
    /input width \d+ is not the T5 width of --base .*base of another text encoder/,
    'base of another T5 width',
  );
  await refuses(
    t,
    mono,
    { base: await reference('musicgen-tiny', 'q8_0'), type: 'f16' },
    /stores 't5\..*' as q8_0.*cannot be re-encoded exactly/,
    'quantised base, other --type',
  );
});

t.test(
  'the export and the base as Hugging Face repo ids (stand-in hub): the same tensors as the local folders',
  async (t) => {
    const server = new HubServer({
      'test-org/musicgen-tiny': { dir: hubRepo('musicgen-tiny', (f) => f.isFile()) },
      'test-org/tiny-finetune': { dir: acDir('musicgen-tiny') },
    });
    await server.start();
    t.teardown(() => server.close());
    const hub = { endpoint: server.url, cacheDir: path.join(tmp, 'hub-cache'), token: false as const };
    const out = outFile('hub');
    const result = await convertAudiocraft('test-org/tiny-finetune', out, {
      base: 'test-org/musicgen-tiny',
      hub,
      type: 'f16',
    });
    t.equal(result.type, 'f16');
    const want = readGguf(await reference('musicgen-tiny', 'f16'));
    const n = sameTensors(t, readGguf(out), want, /./, 'export and base from the hub');
    t.ok(n > 0, `${n} tensors compared`);
    const fetched = server.requests
      .filter((r) => r.method === 'GET' && r.path.includes('/resolve/'))
      .map((r) => path.basename(r.path));
    t.ok(fetched.includes('state_dict.bin') && fetched.includes('model.safetensors'), 'both repos fetched');
  },
);

/** A folder holding the fixture's top-level files only (what a hub repo of it serves). */
function hubRepo(model: string, keep: (entry: fs.Dirent) => boolean): string {
  const dir = fs.mkdtempSync(path.join(tmp, `repo-${model}-`));
  for (const entry of fs.readdirSync(hfDir(model), { withFileTypes: true }))
    if (keep(entry)) fs.copyFileSync(path.join(hfDir(model), entry.name), path.join(dir, entry.name));
  return dir;
}
