import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveSpec } from '../tools/presets';
import { writeRandomCheckpoint } from '../tools/random-checkpoint';
import { float32ToFloat16 } from '../tools/safetensors-writer';
import { readPrecompiledCharsmap } from '../tools/spiece-writer';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const CLI = path.join(ROOT, 'dist', 'tools', 'make-random-checkpoint.js');
const FIXTURE_CHARSMAP = readPrecompiledCharsmap(fs.readFileSync(path.join(FIXTURES, 'tokenizer', 'spiece.model')));
const JSON_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'random-checkpoint-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Independent safetensors parse: header entries plus the raw bytes of each tensor. */
function readSafetensors(file: string) {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const headerBytes = bytes.subarray(8, 8 + headerLength);
  const parsed = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
  delete parsed.__metadata__;
  const header = parsed as Record<string, HeaderEntry>;
  const data = (name: string): Buffer => {
    const entry = header[name];
    if (!entry) throw new Error(`${file}: no tensor ${name}`);
    return bytes.subarray(8 + headerLength + entry.data_offsets[0], 8 + headerLength + entry.data_offsets[1]);
  };
  const floats = (name: string): Float32Array => {
    const raw = Buffer.from(data(name));
    return new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  };
  return { bytes, headerBytes, header, data, floats };
}

let counter = 0;
function generate(
  preset: string,
  overrides: string[] = [],
  options: { dtype?: 'f32' | 'f16'; seed?: number; maxShardBytes?: number } = {},
) {
  const dir = path.join(tmp, `${preset}-${counter++}`);
  const summary = writeRandomCheckpoint({
    dir,
    spec: resolveSpec(preset, overrides),
    dtype: options.dtype ?? 'f32',
    seed: options.seed ?? 0,
    maxShardBytes: options.maxShardBytes ?? 5e9,
    ...(FIXTURE_CHARSMAP ? { precompiledCharsmap: FIXTURE_CHARSMAP } : {}),
  });
  return { dir, summary };
}

const TINY_FIXTURES: [string, string][] = [
  ['tiny', 'musicgen-tiny'],
  ['tiny-melody', 'musicgen-melody-tiny'],
  ['tiny-stereo', 'musicgen-stereo-tiny'],
];

for (const [preset, fixture] of TINY_FIXTURES) {
  t.test(`${preset} preset reproduces the layout of ${fixture}`, async (t) => {
    const { dir, summary } = generate(preset);
    for (const name of JSON_FILES) {
      t.equal(
        fs.readFileSync(path.join(dir, name), 'utf8'),
        fs.readFileSync(path.join(FIXTURES, fixture, name), 'utf8'),
        `${name} is byte-identical`,
      );
    }
    const mine = readSafetensors(path.join(dir, 'model.safetensors'));
    const reference = readSafetensors(path.join(FIXTURES, fixture, 'model.safetensors'));
    // Same names, shapes, dtypes, order and offsets: the whole header block is identical.
    t.same(Object.keys(mine.header), Object.keys(reference.header), 'same tensor names in the same order');
    t.ok(mine.headerBytes.equals(reference.headerBytes), 'header bytes identical (shapes, dtypes, offsets, padding)');
    t.equal(mine.bytes.length, reference.bytes.length, 'same file size');
    t.equal(summary.weightBytes, mine.bytes.length);

    for (const name of Object.keys(mine.header)) {
      const values = mine.floats(name);
      if (!values.every(Number.isFinite)) t.fail(`${name} has non-finite values`);
      if (name.endsWith('weight_g') && !values.every((v) => v > 0)) t.fail(`${name} has non-positive gains`);
    }
    const embed = mine.floats('audio_encoder.quantizer.layers.0.codebook.embed');
    const cluster = mine.floats('audio_encoder.quantizer.layers.0.codebook.cluster_size');
    const embedAvg = mine.floats('audio_encoder.quantizer.layers.0.codebook.embed_avg');
    const dim = embed.length / cluster.length;
    t.equal(embedAvg[5 * dim + 3], Math.fround(embed[5 * dim + 3]! * cluster[5]!), 'embed_avg = embed * cluster_size');
    t.same(Array.from(mine.floats('audio_encoder.quantizer.layers.0.codebook.inited')), [1], 'inited = 1');
  });
}

t.test('sinusoidal position table matches the one HF stored', async (t) => {
  const { dir } = generate('tiny');
  const name = 'decoder.model.decoder.embed_positions.weights';
  const mine = readSafetensors(path.join(dir, 'model.safetensors')).floats(name);
  const reference = readSafetensors(path.join(FIXTURES, 'musicgen-tiny', 'model.safetensors')).floats(name);
  const width = readSafetensors(path.join(dir, 'model.safetensors')).header[name]!.shape[1]!;
  // torch's float32 exp/cos/sin differ from correctly rounded libm by an ulp or two, so a frequency may be 2 ulps
  // (<= 1.2e-7) off and the angle error grows with the position: allow 1 ulp of the value + position * 1.2e-7
  // (2.5e-4 at position 2047; HF's own float32 table is 1.4e-4 off the exact one there).
  let worst = 0;
  for (let i = 0; i < mine.length; i++) {
    const position = Math.floor(i / width);
    worst = Math.max(worst, Math.abs(mine[i]! - reference[i]!) / (6e-8 + position * 1.2e-7));
  }
  t.ok(worst <= 1, `largest difference is ${worst.toFixed(2)} of the allowed bound`);
});

t.test('f16 output is the f32 weights rounded like torch .half(), with the fixture fp16 header', async (t) => {
  const f32 = readSafetensors(path.join(generate('tiny').dir, 'model.safetensors'));
  const { dir } = generate('tiny', [], { dtype: 'f16' });
  const f16 = readSafetensors(path.join(dir, 'model.safetensors'));
  const reference = readSafetensors(path.join(FIXTURES, 'musicgen-tiny', 'fp16', 'model.safetensors'));
  t.ok(f16.headerBytes.equals(reference.headerBytes), 'header identical to fixture fp16/model.safetensors');
  t.match(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), { torch_dtype: 'float16' });
  let mismatches = 0;
  for (const name of Object.keys(f32.header)) {
    const values = f32.floats(name);
    const halves = Buffer.from(float32ToFloat16(values, new Uint16Array(values.length)).buffer);
    if (!halves.equals(f16.data(name))) mismatches++;
  }
  t.equal(mismatches, 0, 'every tensor equals its f32 version rounded to f16');
  // The converter is checked against torch itself: fixture fp16 = fixture f32 rounded by torch.
  const fixtureF32 = readSafetensors(path.join(FIXTURES, 'musicgen-tiny', 'model.safetensors'));
  for (const name of ['text_encoder.shared.weight', 'audio_encoder.quantizer.layers.1.codebook.embed_avg']) {
    const values = fixtureF32.floats(name);
    const halves = Buffer.from(float32ToFloat16(values, new Uint16Array(values.length)).buffer);
    t.ok(halves.equals(reference.data(name)), `${name}: same bits as torch's .half()`);
  }
});

t.test('size overrides change exactly the affected shapes', async (t) => {
  const overrides = [
    'decoder.hidden_size=64',
    'decoder.num_attention_heads=8',
    'decoder.ffn_dim=96',
    'decoder.num_hidden_layers=3',
    'text_encoder.d_model=64',
    'tokenizer.pieces=500',
    'audio_encoder.num_filters=4',
  ];
  const { dir } = generate('tiny', overrides);
  const { header } = readSafetensors(path.join(dir, 'model.safetensors'));
  const shape = (name: string) => header[name]?.shape;
  t.notOk(shape('enc_to_dec_proj.weight'), 'no enc_to_dec_proj when d_model == hidden_size (HF skips it)');
  t.same(shape('text_encoder.shared.weight'), [640, 64], 'T5 rows = ceil((500 + 100) / 128) * 128');
  t.same(shape('decoder.model.decoder.embed_tokens.3.weight'), [2049, 64]);
  t.same(shape('decoder.model.decoder.embed_positions.weights'), [2048, 64]);
  t.same(shape('decoder.model.decoder.layers.2.fc1.weight'), [96, 64]);
  t.notOk(shape('decoder.model.decoder.layers.3.fc1.weight'), 'three layers');
  t.same(shape('decoder.lm_heads.0.weight'), [2048, 64]);
  t.same(shape('audio_encoder.decoder.layers.0.conv.weight_v'), [64, 8, 7], 'C = 16 * num_filters');
  t.same(shape('audio_encoder.decoder.layers.3.conv.weight_v'), [64, 32, 16], 'ConvTranspose [in, out, k]');
  t.same(shape('audio_encoder.decoder.layers.3.conv.weight_g'), [64, 1, 1], 'ConvTranspose gain per input channel');
  t.same(shape('audio_encoder.encoder.layers.13.lstm.weight_hh_l1'), [256, 64]);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  t.match(config, { decoder: { hidden_size: 64, num_hidden_layers: 3 }, text_encoder: { vocab_size: 640 } });
  const tokenizer = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  t.equal(tokenizer.added_tokens_decoder['500'].content, '<extra_id_99>', 'extra ids follow the pieces');
  t.equal(tokenizer.added_tokens_decoder['599'].content, '<extra_id_0>');
});

t.test('melody and stereo variants', async (t) => {
  const melody = readSafetensors(
    path.join(
      generate('tiny-melody', ['decoder.num_codebooks=8', 'decoder.audio_channels=2']).dir,
      'model.safetensors',
    ),
  );
  const names = Object.keys(melody.header);
  t.notOk(
    names.some((n) => n.includes('encoder_attn')),
    'melody decoder has no cross-attention',
  );
  t.same(melody.header['audio_enc_to_dec_proj.weight']?.shape, [48, 12]);
  t.ok(melody.header['decoder.lm_heads.7.weight'], 'stereo-melody has 8 heads');
  const stereo = generate('tiny', ['decoder.num_codebooks=8', 'decoder.audio_channels=2']);
  const preprocessor = JSON.parse(fs.readFileSync(path.join(stereo.dir, 'preprocessor_config.json'), 'utf8'));
  t.equal(preprocessor.feature_size, 2, 'stereo processor takes 2-channel prompts');
});

t.test('sharding writes HF shards and a valid index', async (t) => {
  const whole = readSafetensors(path.join(generate('tiny').dir, 'model.safetensors'));
  const limit = 1_000_000;
  const { dir, summary } = generate('tiny', [], { maxShardBytes: limit });
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  const shardFiles = summary.files.filter((f) => f.endsWith('.safetensors'));
  t.ok(shardFiles.length > 1, `${shardFiles.length} shards`);
  t.notOk(fs.existsSync(path.join(dir, 'model.safetensors')), 'no unsharded file');
  shardFiles.forEach((file, i) => {
    t.equal(
      file,
      `model-${String(i + 1).padStart(5, '0')}-of-${String(shardFiles.length).padStart(5, '0')}.safetensors`,
    );
  });
  t.same(Object.keys(index.weight_map).sort(), Object.keys(whole.header).sort(), 'index maps every tensor');
  let total = 0;
  for (const file of shardFiles) {
    const shard = readSafetensors(path.join(dir, file));
    let shardBytes = 0;
    for (const [name, entry] of Object.entries(shard.header)) {
      t.equal(index.weight_map[name], file, `${name} indexed to its shard`);
      t.ok(shard.data(name).equals(whole.data(name)), `${name} has the same bytes as unsharded`);
      shardBytes += entry.data_offsets[1] - entry.data_offsets[0];
    }
    if (Object.keys(shard.header).length > 1) t.ok(shardBytes <= limit, `${file} within the limit`);
    total += shardBytes;
  }
  t.same(index.metadata, { total_size: total }, 'total_size = bytes of all tensors');
});

t.test('same seed gives the same bytes, another seed other weights', async (t) => {
  const a = generate('tiny-stereo', [], { seed: 42 });
  const b = generate('tiny-stereo', [], { seed: 42 });
  const c = generate('tiny-stereo', [], { seed: 43 });
  for (const file of a.summary.files) {
    t.ok(fs.readFileSync(path.join(a.dir, file)).equals(fs.readFileSync(path.join(b.dir, file))), `${file} identical`);
  }
  const name = 'decoder.model.decoder.layers.0.fc1.weight';
  const wa = readSafetensors(path.join(a.dir, 'model.safetensors')).data(name);
  const wc = readSafetensors(path.join(c.dir, 'model.safetensors')).data(name);
  t.notOk(wa.equals(wc), 'seed 43 differs');
});

/** Independent protobuf walk: [field, wireType, value] with varints as bigint (negative ids are 64-bit). */
function protoFields(bytes: Uint8Array): [number, number, bigint | Uint8Array][] {
  const fields: [number, number, bigint | Uint8Array][] = [];
  let pos = 0;
  const varint = () => {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      const byte = bytes[pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if (byte < 0x80) return value;
    }
  };
  while (pos < bytes.length) {
    const key = Number(varint());
    const wire = key & 7;
    if (wire === 0) fields.push([key >> 3, wire, varint()]);
    else if (wire === 5) fields.push([key >> 3, wire, bytes.subarray(pos, (pos += 4))]);
    else if (wire === 2) {
      const length = Number(varint());
      fields.push([key >> 3, wire, bytes.subarray(pos, (pos += length))]);
    } else throw new Error(`wire type ${wire}`);
  }
  return fields;
}

t.test('spiece.model is a T5-style unigram SentencePiece model', async (t) => {
  const { dir } = generate('tiny', ['tokenizer.pieces=3000']);
  const fields = protoFields(fs.readFileSync(path.join(dir, 'spiece.model')));
  const pieces = fields.filter(([f]) => f === 1).map(([, , v]) => protoFields(v as Uint8Array));
  t.equal(pieces.length, 3000);
  const text = (p: (typeof pieces)[number]) => Buffer.from(p.find(([f]) => f === 1)![2] as Uint8Array).toString();
  const type = (p: (typeof pieces)[number]) => p.find(([f]) => f === 3)?.[2];
  const score = (p: (typeof pieces)[number]) => Buffer.from(p.find(([f]) => f === 2)![2] as Uint8Array).readFloatLE();
  t.same(pieces.slice(0, 3).map(text), ['<pad>', '</s>', '<unk>']);
  t.same(pieces.slice(0, 3).map(type), [3n, 3n, 2n], 'control, control, unknown (as in T5)');
  t.notOk(
    pieces.slice(3).some((p) => type(p) !== undefined),
    'other pieces are NORMAL',
  );
  const texts = pieces.map(text);
  t.equal(new Set(texts).size, texts.length, 'pieces are unique');
  for (let c = 0x21; c <= 0x7e; c++) t.ok(texts.includes(String.fromCharCode(c)), `covers ASCII ${c}`);
  t.ok(texts.includes('\u2581music'), 'has word pieces');
  const scores = pieces.slice(3).map(score);
  t.ok(
    scores.every((s, i) => i === 0 || s < scores[i - 1]!),
    'scores strictly decrease',
  );

  const trainer = protoFields(fields.find(([f]) => f === 2)![2] as Uint8Array);
  const get = (spec: typeof trainer, field: number) => spec.find(([f]) => f === field)?.[2];
  t.equal(get(trainer, 3), 1n, 'model_type UNIGRAM');
  t.equal(get(trainer, 4), 3000n, 'vocab_size');
  t.same(
    [get(trainer, 40), get(trainer, 41), get(trainer, 42), get(trainer, 43)],
    [2n, 2n ** 64n - 1n, 1n, 0n],
    'unk 2, bos -1, eos 1, pad 0',
  );
  const normalizer = protoFields(fields.find(([f]) => f === 3)![2] as Uint8Array);
  t.equal(Buffer.from(get(normalizer, 1) as Uint8Array).toString(), 'nmt_nfkc');
  t.ok(Buffer.from(get(normalizer, 2) as Uint8Array).equals(Buffer.from(FIXTURE_CHARSMAP!)), 'charsmap copied');
  t.same([get(normalizer, 3), get(normalizer, 4), get(normalizer, 5)], [1n, 1n, 1n], 'dummy prefix, whitespace flags');
});

t.test('CLI writes a checkpoint and rejects bad options with exit code 2', async (t) => {
  const out = path.join(tmp, 'cli');
  const ok = spawnSync(process.execPath, [CLI, '--preset', 'tiny', '-o', out, '--seed', '5', '--shard-size', '2MB']);
  t.equal(ok.status, 0, ok.stderr.toString());
  t.ok(fs.existsSync(path.join(out, 'model.safetensors.index.json')), 'sharded at 2MB');
  const cases: [string[], RegExp][] = [
    [['--preset', 'tiny', '-o', out], /--output: .* is not empty/],
    [['--preset', 'huge', '-o', out + '-x'], /--preset: unknown preset 'huge'/],
    [['--preset', 'tiny'], /--output \(-o\): required/],
    [['--preset', 'tiny', '-o', out + '-x', '--dtype', 'bf16'], /--dtype: expected f32 or f16/],
    [['--preset', 'tiny', '-o', out + '-x', '--seed', '-1'], /--seed/],
    [['--preset', 'tiny', '-o', out + '-x', '--shard-size', '2 parsecs'], /--shard-size/],
    [
      ['--preset', 'tiny', '-o', out + '-x', '--set', 'decoder.hidden_size=50'],
      /not divisible by decoder.num_attention_heads/,
    ],
    [['--preset', 'tiny', '-o', out + '-x', '--set', 'num_chroma=6'], /--set num_chroma=6: .*melody/],
    [['--preset', 'tiny', '-o', out + '-x', '--set', 'decoder.width=6'], /--set decoder.width=6/],
    [['--preset', 'tiny', '-o', out + '-x', '--charsmap-from', '/nonexistent'], /--charsmap-from/],
    [['--preset', 'tiny', '-o', out + '-x', '--bogus'], /--bogus/],
  ];
  for (const [args, message] of cases) {
    const result = spawnSync(process.execPath, [CLI, ...args]);
    t.equal(result.status, 2, `exit 2 for ${args.join(' ')}`);
    t.match(result.stderr.toString(), message);
  }
  t.notOk(fs.existsSync(out + '-x'), 'nothing written for rejected options');
  const forced = spawnSync(process.execPath, [CLI, '--preset', 'tiny', '-o', out, '--force']);
  t.equal(forced.status, 0, forced.stderr.toString());
  t.same(
    fs.readdirSync(out).filter((f) => f.startsWith('model')),
    ['model.safetensors'],
    '--force removes the old shards and index',
  );
});
