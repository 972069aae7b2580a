// PEFT LoRA adapters merged at conversion (issue 17): the merged fixture reproduces transformers' greedy codes and
// audio on the merged model, every merged tensor equals an independent float64 merge, scale 0 is the base model,
// a GGUF base merges like the checkpoint, the GGUF records the adapters, and every bad adapter is refused with no
// output file. Sizes, ranks and scales are read from the adapter's config and tensors, never assumed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint, type ConvertOptions } from '../convert/convert';
import { parseLoraArgument } from '../convert/lora';
import { MusicGen } from '../lib';
import { fixture } from './helpers/fixture';
import { readGguf, tensorBytes, tensorF32, type GgufFile } from './helpers/gguf-reader';
import { maxAbsDiff } from './helpers/npy';
import { f32, readSafetensors, writeSafetensors, type RawTensor } from './helpers/safetensors-writer';
import { HubServer } from './helpers/hub-server';
import { writeTorchZip } from './helpers/torch-zip-writer';

const tiny = fixture('musicgen-tiny');
const LORA = path.join(tiny.dir, 'lora');
// Waveforms: float32 noise of the reference is ~1e-6 (fixtures README); 1e-4 as for the other audio goldens.
const WAVE_ATOL = 1e-4;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-lora-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

let files = 0;
async function convert(base: string, options: ConvertOptions): Promise<string> {
  const out = path.join(tmp, `out-${++files}.gguf`);
  await convertCheckpoint(base, out, options);
  return out;
}

const adapterConfig = () =>
  JSON.parse(fs.readFileSync(path.join(LORA, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
const adapterTensors = () => readSafetensors(path.join(LORA, 'adapter_model.safetensors'));

// The test's own map from peft's module paths to our GGUF names (docs/gguf-format.md), independent of tensor-map.ts.
function ggufName(module: string): string {
  const rules: Array<[RegExp, string]> = [
    [/^decoder\.model\.decoder\.layers\.(\d+)\.self_attn\.(q|k|v)_proj$/, 'lm.blk.$1.attn_$2.weight'],
    [/^decoder\.model\.decoder\.layers\.(\d+)\.self_attn\.out_proj$/, 'lm.blk.$1.attn_o.weight'],
    [/^decoder\.model\.decoder\.layers\.(\d+)\.encoder_attn\.(q|k|v)_proj$/, 'lm.blk.$1.cross_attn_$2.weight'],
    [/^decoder\.model\.decoder\.layers\.(\d+)\.encoder_attn\.out_proj$/, 'lm.blk.$1.cross_attn_o.weight'],
    [/^decoder\.model\.decoder\.layers\.(\d+)\.fc1$/, 'lm.blk.$1.ffn_up.weight'],
    [/^decoder\.model\.decoder\.layers\.(\d+)\.fc2$/, 'lm.blk.$1.ffn_down.weight'],
    [/^decoder\.lm_heads\.(\d+)$/, 'lm.output.$1.weight'],
    [/^decoder\.model\.decoder\.embed_tokens\.(\d+)$/, 'lm.tok_embd.$1.weight'],
    [/^enc_to_dec_proj$/, 'cond.text_proj.weight'],
    [/^audio_enc_to_dec_proj$/, 'cond.chroma_proj.weight'],
    [/^text_encoder\.encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.(q|k|v|o)$/, 't5.blk.$1.attn_$2.weight'],
    [/^text_encoder\.encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi$/, 't5.blk.$1.ffn_up.weight'],
    [/^text_encoder\.encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo$/, 't5.blk.$1.ffn_down.weight'],
    [/^text_encoder\.shared$/, 't5.token_embd.weight'],
  ];
  for (const [re, to] of rules) if (re.test(module)) return module.replace(re, to);
  throw new Error(`no GGUF name for ${module}`);
}

/** W + factor * B @ A (embeddings: (B @ A)^T) in float64, rounded once: the fixture's reference merge. */
function referenceMerge(
  w: Float32Array,
  shape: number[],
  { a, b, embedding }: { a: RawTensor; b: RawTensor; embedding: boolean },
  factor: number,
): Float32Array {
  const [rows, cols] = shape as [number, number];
  const A = f32(a);
  const B = f32(b);
  const r = a.shape[0]!;
  const out = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += embedding ? B[j * r + k]! * A[k * rows + i]! : B[i * r + k]! * A[k * cols + j]!;
      out[i * cols + j] = w[i * cols + j]! + factor * s;
    }
  }
  return out;
}

/** Adapted modules of the fixture adapter: module path -> its A and B tensors. */
interface Adapted {
  a: RawTensor;
  b: RawTensor;
  embedding: boolean;
}
function adaptedModules(tensors: Map<string, RawTensor>): Map<string, Adapted> {
  const modules = new Map<string, Adapted>();
  for (const [name, x] of tensors) {
    const m = /^base_model\.model\.(.+)\.(lora_A\.weight|lora_B\.weight|lora_embedding_A|lora_embedding_B)$/.exec(
      name,
    )!;
    const entry = modules.get(m[1]!) ?? ({ embedding: m[2]!.startsWith('lora_embedding') } as Adapted);
    if (m[2]!.includes('_A')) entry.a = x;
    else entry.b = x;
    modules.set(m[1]!, entry);
  }
  return modules;
}

const sameTensors = (a: GgufFile, b: GgufFile, names: string[]) =>
  names.filter((n) => !tensorBytes(a, n).equals(tensorBytes(b, n)));

let base: GgufFile;
let baseFile: string;
let merged: GgufFile;
let mergedFile: string;
t.before(async () => {
  baseFile = await convert(tiny.dir, { type: 'f32' });
  base = readGguf(baseFile);
  mergedFile = await convert(tiny.dir, { type: 'f32', loras: [{ path: LORA }] });
  merged = readGguf(mergedFile);
});

t.test('merged fixture: greedy codes identical to transformers on the merged model, audio within 1e-4', async (t) => {
  const expected = tiny.golden('lora_greedy_cfg3_codes');
  const audio = tiny.golden('lora_greedy_cfg3_audio');
  const description = tiny.describe('lora_greedy_cfg3_codes');
  const guidanceScale = Number(/guidance_scale=([\d.]+)/.exec(description)![1]);
  const gen = await MusicGen.load(mergedFile, { backend: 'cpu', threads: 2 });
  try {
    const results = await gen.generate(tiny.prompts, { frames: expected.shape[2]!, topK: 1, guidanceScale });
    const codes = results.flatMap((r) => Array.from(r.codes.data));
    t.same(codes, Array.from(expected.data as ArrayLike<number>), 'codes identical');
    const n = audio.shape[2]!;
    results.forEach((r, i) => {
      const err = maxAbsDiff(r.channels[0]!, (audio.data as Float32Array).subarray(i * n, (i + 1) * n));
      t.ok(err <= WAVE_ATOL, `waveform ${i}: max abs error ${err.toExponential(2)}`);
      t.comment(`lora waveform ${i}: max abs error ${err.toExponential(2)}`);
    });
    const baseCodes = tiny.golden('greedy_cfg3_codes').data as ArrayLike<number>;
    const differ = codes.filter((c, i) => c !== baseCodes[i]).length;
    t.ok(differ > 0, `the adapter changes the base model's greedy codes (${differ} of ${codes.length})`);
  } finally {
    gen.dispose();
  }
});

t.test('every adapted tensor equals the float64 reference merge bit for bit; the rest is the base', async (t) => {
  const cfg = adapterConfig();
  const factor = (cfg.lora_alpha as number) / (cfg.r as number);
  const modules = adaptedModules(adapterTensors());
  const changed = new Set<string>();
  for (const [module, adapted] of modules) {
    const name = ggufName(module);
    changed.add(name);
    const t0 = base.tensors.find((x) => x.name === name)!;
    const shape = [...t0.dims].reverse();
    const want = referenceMerge(tensorF32(base, name), shape, adapted, factor);
    const got = tensorF32(merged, name);
    t.ok(Buffer.from(want.buffer).equals(Buffer.from(got.buffer.slice(got.byteOffset))), `${name} (${module})`);
  }
  const rest = base.tensors.map((x) => x.name).filter((n) => !changed.has(n));
  t.ok(rest.includes('cond.text_proj.bias'), 'biases are among the untouched tensors');
  t.same(sameTensors(base, merged, rest), [], `the other ${rest.length} tensors are the base's bytes`);
});

t.test('the GGUF records the merged adapters; MusicGen.inspect shows them', async (t) => {
  const cfg = adapterConfig();
  const modules = adaptedModules(adapterTensors()).size;
  const meta = MusicGen.inspect(mergedFile).metadata as Record<string, unknown>;
  t.same(meta['musicgen.lora.adapters'], [LORA]);
  t.same(meta['musicgen.lora.scales'], [1]);
  t.same(meta['musicgen.lora.ranks'], [cfg.r]);
  t.same(meta['musicgen.lora.factors'], [Math.fround((cfg.lora_alpha as number) / (cfg.r as number))]);
  t.same(meta['musicgen.lora.modules'], [modules]);
  t.notOk('musicgen.lora.adapters' in (MusicGen.inspect(baseFile).metadata as object), 'a plain conversion has none');
});

t.test('scale 0 reproduces the base model tensors exactly (f32 and q8_0)', async (t) => {
  for (const type of ['f32', 'q8_0'] as const) {
    const plain = type === 'f32' ? base : readGguf(await convert(tiny.dir, { type }));
    const zero = readGguf(await convert(tiny.dir, { type, loras: [parseLoraArgument(`${LORA}:0`)] }));
    const names = plain.tensors.map((x) => x.name);
    t.same(
      zero.tensors.map((x) => [x.name, x.type]),
      plain.tensors.map((x) => [x.name, x.type]),
      `${type}: same table`,
    );
    t.same(sameTensors(plain, zero, names), [], `${type}: all ${names.length} tensors identical`);
    t.same(zero.metadata.get('musicgen.lora.scales'), [0], `${type}: scale 0 recorded`);
  }
});

t.test(
  'scales and use_rslora scale B @ A; several adapters add up; adapter_model.bin reads like safetensors',
  async (t) => {
    const cfg = adapterConfig();
    const r = cfg.r as number;
    const alpha = cfg.lora_alpha as number;
    const modules = adaptedModules(adapterTensors());
    const [module, adapted] = [...modules].find(([m]) => m.includes('fc1'))!;
    const name = ggufName(module);
    const shape = [...base.tensors.find((x) => x.name === name)!.dims].reverse();
    const check = (file: string, factor: number, what: string) => {
      const want = referenceMerge(tensorF32(base, name), shape, adapted, factor);
      const got = tensorF32(readGguf(file), name);
      // B @ A, its scaling and the sum each round to float32 (the reference rounds once): a few units in the last
      // place of the largest value at most; 0 when the factor is a power of two, as in the public fixture.
      const err = maxAbsDiff(got, want);
      const ulp = 2 ** -23 * Math.max(...Array.from(want, Math.abs));
      t.ok(err <= 4 * ulp, `${what}: ${name} = W + ${factor} * B @ A (max error ${err.toExponential(2)})`);
      t.not(maxAbsDiff(got, tensorF32(base, name)), 0, `${what}: ${name} changed`);
    };
    check(
      await convert(tiny.dir, { type: 'f32', loras: [{ path: LORA, scale: 0.5 }] }),
      (0.5 * alpha) / r,
      'scale 0.5',
    );

    // alpha_pattern: this module alone gets 4x the adapter's alpha (peft's `.*\.key$` match).
    const patterned = editedAdapter((c) => (c.alpha_pattern = { fc1: 4 * alpha }));
    check(await convert(tiny.dir, { type: 'f32', loras: [{ path: patterned }] }), (4 * alpha) / r, 'alpha_pattern');
    const rs = path.join(tmp, 'rslora');
    fs.cpSync(LORA, rs, { recursive: true });
    fs.writeFileSync(path.join(rs, 'adapter_config.json'), JSON.stringify({ ...cfg, use_rslora: true }));
    check(await convert(tiny.dir, { type: 'f32', loras: [{ path: rs }] }), alpha / Math.sqrt(r), 'use_rslora');

    // Two half-scale copies add up to the whole adapter (each sum rounds once: within float32 rounding).
    const twice = readGguf(
      await convert(tiny.dir, {
        type: 'f32',
        loras: [
          { path: LORA, scale: 0.5 },
          { path: rs, scale: 0 },
          { path: LORA, scale: 0.5 },
        ],
      }),
    );
    const whole = tensorF32(merged, name);
    const ulp = 2 ** -23 * Math.max(...Array.from(whole, Math.abs));
    const err = maxAbsDiff(tensorF32(twice, name), whole);
    t.ok(err <= 4 * ulp, `0.5 + 0 + 0.5 of the adapter == the adapter (max error ${err.toExponential(2)})`);
    t.same(twice.metadata.get('musicgen.lora.adapters'), [LORA, rs, LORA], 'every adapter recorded, in order');
    t.same(twice.metadata.get('musicgen.lora.scales'), [0.5, 0, 0.5]);

    const bin = path.join(tmp, 'bin-adapter');
    fs.mkdirSync(bin);
    fs.copyFileSync(path.join(LORA, 'adapter_config.json'), path.join(bin, 'adapter_config.json'));
    const tensors = new Map([...adapterTensors()].map(([n, x]) => [n, { shape: x.shape, data: Buffer.from(x.data) }]));
    writeTorchZip(path.join(bin, 'adapter_model.bin'), tensors);
    const fromBin = readGguf(await convert(tiny.dir, { type: 'f32', loras: [{ path: bin }] }));
    const names = merged.tensors.map((x) => x.name);
    t.same(sameTensors(merged, fromBin, names), [], 'adapter_model.bin merges exactly like adapter_model.safetensors');
  },
);

t.test('a GGUF base merges like its checkpoint; a quantised base refuses adapted tensors', async (t) => {
  const names = merged.tensors.map((x) => x.name);
  const fromGguf = readGguf(await convert(baseFile, { loras: [{ path: LORA }] }));
  t.equal(fromGguf.metadata.get('general.file_type'), 0, 'the base type (f32) is kept when no --type is given');
  t.same(sameTensors(merged, fromGguf, names), [], 'f32 GGUF base + adapter == checkpoint + adapter');
  const q8 = readGguf(await convert(tiny.dir, { type: 'q8_0', loras: [{ path: LORA }] }));
  const q8FromGguf = readGguf(await convert(baseFile, { type: 'q8_0', loras: [{ path: LORA }] }));
  t.same(
    sameTensors(q8, q8FromGguf, names),
    [],
    'merged before quantisation: q8_0 from the f32 GGUF == from the checkpoint',
  );
  // An already merged GGUF as a base: the history is kept and extended.
  const again = readGguf(await convert(mergedFile, { loras: [{ path: LORA, scale: 0 }] }));
  t.same(again.metadata.get('musicgen.lora.adapters'), [LORA, LORA], 'adapters merged earlier stay recorded');

  const quantised = await convert(tiny.dir, { type: 'q8_0' });
  const outDir = fs.mkdtempSync(path.join(tmp, 'out-'));
  await t.rejects(convertCheckpoint(quantised, path.join(outDir, 'x.gguf'), { loras: [{ path: LORA }] }), {
    name: 'ConvertError',
    message: /tensor '[^']+' is stored as q8_0; a LoRA adapter must be merged before quantisation/,
  });
  await t.rejects(convertCheckpoint(quantised, path.join(outDir, 'x.gguf'), { type: 'f16' }), {
    name: 'ConvertError',
    message: /is stored as q8_0; re-encoding it as f16 would quantise twice/,
  });
  await t.rejects(convertCheckpoint(baseFile, path.join(outDir, 'x.gguf'), { tokenizerDir: tiny.dir }), {
    name: 'ConvertError',
    message: /--tokenizer-dir does not apply to a GGUF base/,
  });
  t.same(fs.readdirSync(outDir), [], 'no output file and no temp file');
});

// ---- bad adapters: a ConvertError naming the problem, and nothing written ----

async function expectRefused(t: Test, adapter: string, message: RegExp, baseDir = tiny.dir): Promise<void> {
  const outDir = fs.mkdtempSync(path.join(tmp, 'out-'));
  await t.rejects(
    convertCheckpoint(baseDir, path.join(outDir, 'model.gguf'), { type: 'q8_0', loras: [{ path: adapter }] }),
    { name: 'ConvertError', message },
  );
  t.same(fs.readdirSync(outDir), [], 'no output file and no temp file');
}

let adapters = 0;
/** A copy of the fixture adapter with its config and tensors edited. */
function editedAdapter(
  editConfig: (cfg: Record<string, unknown>) => void = () => {},
  editTensors?: (tensors: Map<string, RawTensor>) => void,
): string {
  const dir = path.join(tmp, `adapter-${++adapters}`);
  fs.cpSync(LORA, dir, { recursive: true });
  const cfg = adapterConfig();
  editConfig(cfg);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(cfg));
  if (editTensors) {
    const tensors = adapterTensors();
    editTensors(tensors);
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
  }
  return dir;
}

t.test('an adapter for another model size: the tensor, expected vs got', async (t) => {
  const tensors = adapterTensors();
  const [name, x] = [...tensors].find(([n]) => n.endsWith('fc1.lora_A.weight'))!;
  const wider = [x.shape[0]!, x.shape[1]! * 2];
  const dir = editedAdapter(undefined, (m) =>
    m.set(name, { dtype: 'F32', shape: wider, data: Buffer.alloc(wider[0]! * wider[1]! * 4) }),
  );
  await expectRefused(
    t,
    dir,
    new RegExp(
      `tensor '${name.replace(/\./g, '\\.')}' has shape \\[${wider.join(', ')}\\], expected \\[${x.shape.join(', ')}\\]`,
    ),
  );
});

t.test('an adapter for another architecture names the module it cannot place', async (t) => {
  const dir = editedAdapter(undefined, (m) => {
    for (const [n, x] of [...m]) {
      if (!n.includes('layers.0.fc1')) continue;
      m.delete(n);
      m.set(n.replace('decoder.model.decoder.layers.0.fc1', 'model.layers.0.mlp.up_proj'), x);
    }
  });
  await expectRefused(
    t,
    dir,
    /adapts module 'model\.layers\.0\.mlp\.up_proj', which is not a weight matrix of this MusicGen model/,
  );
  // The melody variant has no cross-attention: a text model's adapter does not fit it.
  await expectRefused(
    t,
    LORA,
    /adapts module '[^']*encoder_attn[^']*', which is not a weight matrix/,
    fixture('musicgen-melody-tiny').dir,
  );
});

t.test('rank in adapter_config.json inconsistent with the tensors', async (t) => {
  const r = adapterConfig().r as number;
  await expectRefused(
    t,
    editedAdapter((c) => (c.r = r / 2)),
    new RegExp(`expected \\[${r / 2}, \\d+\\] \\(r=${r / 2} from adapter_config\\.json`),
  );
});

t.test('unknown target module, fan_in_fan_out, DoRA, other PEFT types and unsupported options', async (t) => {
  await expectRefused(
    t,
    editedAdapter((c) => (c.target_modules = [...(c.target_modules as string[]), 'conv'])),
    /adapter_config\.json: target module 'conv' is not a MusicGen module the converter can merge into/,
  );
  await expectRefused(
    t,
    editedAdapter((c) => (c.fan_in_fan_out = true)),
    /fan_in_fan_out is true, expected false/,
  );
  await expectRefused(
    t,
    editedAdapter((c) => (c.use_dora = true)),
    /use_dora is true, expected false \(DoRA/,
  );
  await expectRefused(
    t,
    editedAdapter((c) => (c.peft_type = 'LOHA')),
    /peft_type is "LOHA", expected "LORA"/,
  );
  await expectRefused(
    t,
    editedAdapter((c) => (c.bias = 'all')),
    /bias is "all", expected "none"/,
  );
  await expectRefused(
    t,
    editedAdapter((c) => (c.rank_pattern = { fc1: 4 })),
    /fc1\.lora_A\.weight' has shape \[\d+, \d+\], expected \[4, \d+\] \(rank_pattern\['fc1'\]=4 from adapter_config\.json/,
  );
  await expectRefused(
    t,
    editedAdapter((c) => (c.modules_to_save = ['lm_heads'])),
    /modules_to_save .* not supported/,
  );
});

t.test('missing files, stray and unpaired tensors', async (t) => {
  const noConfig = editedAdapter();
  fs.rmSync(path.join(noConfig, 'adapter_config.json'));
  await expectRefused(t, noConfig, /no adapter_config\.json: not a PEFT adapter folder/);
  const noWeights = editedAdapter();
  fs.rmSync(path.join(noWeights, 'adapter_model.safetensors'));
  await expectRefused(t, noWeights, /no adapter_model\.safetensors or adapter_model\.bin/);
  await expectRefused(t, path.join(tmp, 'nowhere'), /nowhere: no adapter_config\.json/);
  const unpaired = editedAdapter(undefined, (m) => {
    for (const n of [...m.keys()]) if (n.endsWith('lm_heads.0.lora_B.weight')) m.delete(n);
  });
  await expectRefused(t, unpaired, /module 'decoder\.lm_heads\.0' has no lora_B\.weight tensor/);
  const stray = editedAdapter(undefined, (m) => {
    const any = [...m.values()][0]!;
    m.set('base_model.model.enc_to_dec_proj.bias', any);
  });
  await expectRefused(t, stray, /tensor 'base_model\.model\.enc_to_dec_proj\.bias' is not a LoRA weight/);
});

t.test('--lora arguments: scale suffix', async (t) => {
  t.same(parseLoraArgument('dir/adapter:0.5'), { path: 'dir/adapter', scale: 0.5 });
  t.same(parseLoraArgument('dir/adapter:-1e-1'), { path: 'dir/adapter', scale: -0.1 });
  t.same(parseLoraArgument('owner/name'), { path: 'owner/name' });
  t.same(parseLoraArgument('C:\\adapters\\x'), { path: 'C:\\adapters\\x' });
  const outDir = fs.mkdtempSync(path.join(tmp, 'out-'));
  await t.rejects(
    convertCheckpoint(tiny.dir, path.join(outDir, 'x.gguf'), { loras: [{ path: LORA, scale: Number.NaN }] }),
    { name: 'ConvertError', message: /scale NaN is not a finite number/ },
  );
});

t.test(
  'tools/make-lora-adapter: the dreamboothing modules of the fixture adapter, in a folder the CLI merges',
  async (t) => {
    const ROOT = path.join(__dirname, '..', '..');
    const dir = path.join(tmp, 'made-adapter');
    const made = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'dist', 'tools', 'make-lora-adapter.js'),
        '--base',
        tiny.dir,
        '-o',
        dir,
        '--r',
        '4',
        '--seed',
        '7',
      ],
      { encoding: 'utf8' },
    );
    t.equal(made.status, 0, made.stderr);
    const names = [...readSafetensors(path.join(dir, 'adapter_model.safetensors')).keys()].sort();
    t.same(names, [...adapterTensors().keys()].sort(), 'same tensor names as the peft-written fixture adapter');
    const out = path.join(tmp, 'cli-lora.gguf');
    const cli = spawnSync(
      process.execPath,
      [path.join(ROOT, 'dist', 'convert', 'cli.js'), tiny.dir, '--lora', `${dir}:0.25`, '-o', out, '--json'],
      { encoding: 'utf8' },
    );
    t.equal(cli.status, 0, cli.stderr);
    t.match(JSON.parse(cli.stdout), { type: 'f16', tensors: base.tensors.length });
    const meta = readGguf(out).metadata;
    t.same(meta.get('musicgen.lora.scales'), [0.25]);
    t.same(meta.get('musicgen.lora.ranks'), [4]);
    t.same(meta.get('musicgen.lora.factors'), [0.25], 'lora_alpha defaults to r (dreambooth_musicgen.py)');
    const bad = spawnSync(
      process.execPath,
      [path.join(ROOT, 'dist', 'convert', 'cli.js'), tiny.dir, '--lora', 'someone/adapter', '-o', out + '.x'],
      // A repo id is fetched from the hub: offline with an empty cache, it is refused without touching the network.
      { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: path.join(tmp, 'empty-cache') } },
    );
    t.equal(bad.status, 1);
    t.match(bad.stderr, /^musicgen-convert: error: someone\/adapter: offline mode .*not in the cache/);
    t.notOk(fs.existsSync(out + '.x'), 'no output');
  },
);

t.test(
  'a GGUF base without adapters re-encodes to the same bytes as the checkpoint (mono, melody, stereo)',
  async (t) => {
    for (const name of ['musicgen-tiny', 'musicgen-melody-tiny', 'musicgen-stereo-tiny']) {
      const dir = fixture(name).dir;
      const f32File = await convert(dir, { type: 'f32' });
      for (const type of ['f32', 'q8_0'] as const) {
        const direct = readGguf(type === 'f32' ? f32File : await convert(dir, { type }));
        const again = readGguf(await convert(f32File, { type }));
        t.same(
          again.tensors.map((x) => [x.name, x.type, x.dims]),
          direct.tensors.map((x) => [x.name, x.type, x.dims]),
          `${name} ${type}: same tensor table`,
        );
        t.same(
          sameTensors(
            direct,
            again,
            direct.tensors.map((x) => x.name),
          ),
          [],
          `${name} ${type}: same bytes`,
        );
        t.same([...again.metadata.keys()], [...direct.metadata.keys()], `${name} ${type}: same metadata keys`);
        t.equal(again.metadata.get('general.file_type'), direct.metadata.get('general.file_type'));
      }
    }
  },
);

t.test(
  'T5, chroma projection and LM modules of a melody model, rank_pattern (synthetic adapter, exact values)',
  async (t) => {
    const melody = fixture('musicgen-melody-tiny');
    const weights = readSafetensors(path.join(melody.dir, 'model.safetensors'));
    const modules = [
      ['audio_enc_to_dec_proj', 'linear'],
      ['text_encoder.encoder.block.0.layer.0.SelfAttention.q', 'linear'],
      ['text_encoder.encoder.block.0.layer.1.DenseReluDense.wo', 'linear'],
      ['text_encoder.shared', 'embedding'],
      ['decoder.model.decoder.layers.0.self_attn.q_proj', 'linear'],
    ] as const;
    const r = 2;
    const alpha = 3;
    // Small integers times 2^-6: every product and sum is exact in float32, so the float64 reference is bit-exact.
    let seed = 12345;
    const values = (n: number) => {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        out[i] = ((seed >>> 16) % 9) - 4;
        out[i] = out[i]! / 64;
      }
      return { dtype: 'F32', data: Buffer.from(out.buffer) };
    };
    const tensors = new Map<string, RawTensor>();
    const rankOf = (module: string) => (module.endsWith('.wo') ? 3 : r); // rank_pattern {wo: 3} below
    for (const [module, kind] of modules) {
      const [rows, cols] = weights.get(`${module}.weight`)!.shape as [number, number];
      const p = `base_model.model.${module}`;
      const r = rankOf(module);
      if (kind === 'linear') {
        tensors.set(`${p}.lora_A.weight`, { ...values(r * cols), shape: [r, cols] });
        tensors.set(`${p}.lora_B.weight`, { ...values(rows * r), shape: [rows, r] });
      } else {
        tensors.set(`${p}.lora_embedding_A`, { ...values(r * rows), shape: [r, rows] });
        tensors.set(`${p}.lora_embedding_B`, { ...values(cols * r), shape: [cols, r] });
      }
    }
    const dir = path.join(tmp, 'melody-adapter');
    fs.mkdirSync(dir);
    const targets = ['audio_enc_to_dec_proj', 'q', 'wo', 'shared', 'q_proj'];
    fs.writeFileSync(
      path.join(dir, 'adapter_config.json'),
      JSON.stringify({ ...adapterConfig(), r, lora_alpha: alpha, target_modules: targets, rank_pattern: { wo: 3 } }),
    );
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
    const plain = readGguf(await convert(melody.dir, { type: 'f32' }));
    const out = readGguf(await convert(melody.dir, { type: 'f32', loras: [{ path: dir }] }));
    const changed = new Set<string>();
    for (const [module, adapted] of adaptedModules(tensors)) {
      const name = ggufName(module);
      changed.add(name);
      const shape = weights.get(`${module}.weight`)!.shape;
      const want = referenceMerge(tensorF32(plain, name), shape, adapted, alpha / rankOf(module));
      t.equal(maxAbsDiff(tensorF32(out, name), want), 0, `${name} (${module})`);
      t.not(maxAbsDiff(tensorF32(out, name), tensorF32(plain, name)), 0, `${name} changed`);
    }
    const rest = plain.tensors.map((x) => x.name).filter((n) => !changed.has(n));
    t.same(sameTensors(plain, out, rest), [], `the other ${rest.length} tensors are the base's bytes`);
  },
);

t.test(
  'base and adapter as Hugging Face repo ids (stand-in hub): only the adapter files fetched, same GGUF',
  async (t) => {
    // The adapter repo as the dreamboothing script pushes it: adapter + the base's config and processor files.
    const server = new HubServer({
      'test-org/musicgen-tiny': { dir: topLevelFiles(tiny.dir) },
      'test-org/tiny-lora': { dir: LORA },
    });
    await server.start();
    t.teardown(() => server.close());
    const hub = { endpoint: server.url, cacheDir: path.join(tmp, 'hub-cache'), token: false as const };
    const fromHub = await convert('test-org/musicgen-tiny', {
      type: 'f32',
      hub,
      loras: [{ path: 'test-org/tiny-lora', scale: 0.5 }],
    });
    const local = await convert(tiny.dir, { type: 'f32', loras: [{ path: LORA, scale: 0.5 }] });
    const a = readGguf(fromHub);
    const b = readGguf(local);
    t.same(
      a.tensors.map((x) => x.name),
      b.tensors.map((x) => x.name),
    );
    t.same(
      a.tensors.filter((x) => !tensorBytes(a, x.name).equals(tensorBytes(b, x.name))).map((x) => x.name),
      [],
      'same tensor bytes',
    );
    const adapterFiles = server.requests
      .filter((r) => r.method === 'GET' && r.path.startsWith('/test-org/tiny-lora/resolve/'))
      .map((r) => path.basename(r.path))
      .sort();
    t.same(adapterFiles, ['adapter_config.json', 'adapter_model.safetensors'], 'the adapter repo: only the adapter');
  },
);

/** A folder with `dir`'s top-level files only (what a hub repo of the fixture serves). */
function topLevelFiles(dir: string): string {
  const copy = fs.mkdtempSync(path.join(tmp, 'repo-'));
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }))
    if (entry.isFile()) fs.copyFileSync(path.join(dir, entry.name), path.join(copy, entry.name));
  return copy;
}
