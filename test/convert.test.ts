import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { native } from '../lib/native';
import { GGML_TYPE, readGguf, tensorBytes, tensorF32, type GgufFile } from './helpers/gguf-reader';
import { copyConfigs, f32, readSafetensors, writeSafetensors, type RawTensor } from './helpers/safetensors-writer';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures');
const TINY = path.join(FIXTURES, 'musicgen-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-convert-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

type OutType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_k';

async function convert(t: Test, dir: string, type: OutType, name: string, tokenizerDir?: string): Promise<GgufFile> {
  const out = path.join(tmp, `${name}-${type}.gguf`);
  const result = await convertCheckpoint(dir, out, { type, tokenizerDir });
  const file = readGguf(out);
  t.equal(result.bytes, fs.statSync(out).size, `${name}: reported byte count is the file size`);
  t.equal(result.tensors, file.tensors.length, `${name}: reported tensor count`);
  return file;
}

function dataSection(f: GgufFile): Buffer {
  return f.buffer.subarray(f.dataOffset);
}

function table(f: GgufFile): string[] {
  return f.tensors.map((x) => `${x.name} [${x.dims.join(',')}] type ${x.type} @${x.offset}`);
}

function config(dir: string): Record<string, Record<string, unknown>> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
}

t.test('musicgen-tiny f32: metadata from the configs, tensors copied and weight norm folded', async (t) => {
  const g = await convert(t, TINY, 'f32', 'tiny');
  const cfg = config(TINY);
  const source = readSafetensors(path.join(TINY, 'model.safetensors'));
  const md = g.metadata;
  t.equal(g.version, 3);
  t.equal(md.get('general.architecture'), 'musicgen');
  t.equal(md.get('general.file_type'), 0);
  t.equal(md.get('musicgen.variant'), 'text');
  t.equal(md.get('musicgen.lm.embedding_length'), cfg.decoder!.hidden_size);
  t.equal(md.get('musicgen.lm.codebook_count'), cfg.decoder!.num_codebooks);
  t.equal(md.get('musicgen.t5.vocab_size'), cfg.text_encoder!.vocab_size);
  t.same(md.get('musicgen.codec.upsampling_ratios'), cfg.audio_encoder!.upsampling_ratios);
  t.equal(md.get('musicgen.codec.quantizer_count'), 4, '2.2 kbps at 50 Hz = 4 codebooks');
  t.equal(md.get('musicgen.generation.guidance_scale'), 3);
  t.equal(md.get('musicgen.generation.pad_token_id'), 2048);

  // Pieces in id order, as listed by the tokenizer fixture's .vocab file (same spiece.model).
  t.ok(
    fs
      .readFileSync(path.join(TINY, 'spiece.model'))
      .equals(fs.readFileSync(path.join(FIXTURES, 'tokenizer', 'spiece.model'))),
  );
  const vocab = fs
    .readFileSync(path.join(FIXTURES, 'tokenizer', 'spiece.vocab'), 'utf8')
    .split('\n')
    .filter(Boolean);
  t.same(
    md.get('tokenizer.ggml.tokens'),
    vocab.map((line) => line.split('\t')[0]),
  );
  t.equal(md.get('tokenizer.ggml.extra_ids'), 100);
  t.equal(md.get('tokenizer.ggml.eos_token_id'), 1);
  t.equal(md.get('tokenizer.ggml.unknown_token_id'), 2);
  t.equal(md.get('tokenizer.ggml.padding_token_id'), 0);

  // Layout: 32-byte aligned, in order, no gaps beyond padding, file ends with the last tensor.
  let end = 0;
  for (const x of g.tensors) {
    t.equal(x.offset % 32, 0, `${x.name} aligned`);
    t.equal(x.offset, Math.ceil(end / 32) * 32, `${x.name} follows the previous tensor`);
    end = x.offset + tensorBytes(g, x.name).length;
  }
  t.equal(g.buffer.length, g.dataOffset + Math.ceil(end / 32) * 32);
  t.ok(g.tensors.every((x) => x.type === GGML_TYPE.f32));

  // Plain copies: dims are the PyTorch shape reversed, bytes identical.
  const copies: Array<[string, string]> = [
    ['t5.token_embd.weight', 'text_encoder.shared.weight'],
    ['t5.rel_bias.weight', 'text_encoder.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'],
    ['t5.blk.1.ffn_up.weight', 'text_encoder.encoder.block.1.layer.1.DenseReluDense.wi.weight'],
    ['t5.blk.1.attn_o.weight', 'text_encoder.encoder.block.1.layer.0.SelfAttention.o.weight'],
    ['cond.text_proj.weight', 'enc_to_dec_proj.weight'],
    ['cond.text_proj.bias', 'enc_to_dec_proj.bias'],
    ['lm.tok_embd.3.weight', 'decoder.model.decoder.embed_tokens.3.weight'],
    ['lm.pos_embd.weight', 'decoder.model.decoder.embed_positions.weights'],
    ['lm.blk.1.cross_attn_o.weight', 'decoder.model.decoder.layers.1.encoder_attn.out_proj.weight'],
    ['lm.blk.0.ffn_down.weight', 'decoder.model.decoder.layers.0.fc2.weight'],
    ['lm.output_norm.bias', 'decoder.model.decoder.layer_norm.bias'],
    ['lm.output.2.weight', 'decoder.lm_heads.2.weight'],
    ['codec.rvq.3.codebook', 'audio_encoder.quantizer.layers.3.codebook.embed'],
    ['codec.dec.1.lstm.1.w_hh', 'audio_encoder.decoder.layers.1.lstm.weight_hh_l1'],
    ['codec.enc.13.lstm.0.b_ih', 'audio_encoder.encoder.layers.13.lstm.bias_ih_l0'],
    ['codec.dec.3.conv.bias', 'audio_encoder.decoder.layers.3.conv.bias'],
  ];
  for (const [gguf, hf] of copies) {
    const src = source.get(hf)!;
    t.same(g.tensors.find((x) => x.name === gguf)?.dims, [...src.shape].reverse(), `${gguf} dims`);
    t.ok(tensorBytes(g, gguf).equals(src.data), `${gguf} == ${hf}`);
  }

  // Weight norm (docs/reference-notes.md §10.1): W = g * v / ||v|| per index of dim 0 - output channel of a Conv1d,
  // input channel of a ConvTranspose1d. Tolerance: one float32 rounding of a float64 result (2^-23 relative).
  let folded = 0;
  for (const x of g.tensors) {
    const m = /^codec\.(enc|dec)\.(\d+)\.(conv|res\.(\d+))\.weight$/.exec(x.name);
    if (!m) continue;
    const side = m[1] === 'enc' ? 'encoder' : 'decoder';
    const module = `audio_encoder.${side}.layers.${m[2]}.${m[4] ? `block.${m[4]}.conv` : 'conv'}`;
    const v = f32(source.get(`${module}.weight_v`)!);
    const gain = f32(source.get(`${module}.weight_g`)!);
    const got = tensorF32(g, x.name);
    const channels = gain.length;
    const per = v.length / channels;
    let worst = 0;
    for (let c = 0; c < channels; c++) {
      let norm = 0;
      for (let j = 0; j < per; j++) norm += v[c * per + j]! ** 2;
      for (let j = 0; j < per; j++) {
        const want = (gain[c]! * v[c * per + j]!) / Math.sqrt(norm);
        worst = Math.max(worst, Math.abs(got[c * per + j]! - want) / Math.max(Math.abs(want), 1e-30));
      }
    }
    t.ok(worst <= 2 ** -23, `${x.name} folded from ${module} (rel err ${worst})`);
    folded++;
  }
  t.equal(folded, 2 * (4 + 4 * 2 + 2), 'every conv of both SEANet stacks (4 strided, 4 resblocks x 2, 2 outer)');
  t.notOk(g.tensors.some((x) => x.name.includes('embed_avg') || x.name.includes('cluster_size')));
});

t.test('pytorch_model.bin converts to exactly the tensors of model.safetensors', async (t) => {
  for (const type of ['f32', 'q4_0'] as const) {
    const a = await convert(t, TINY, type, 'tiny-st');
    const b = await convert(t, path.join(TINY, 'bin'), type, 'tiny-bin');
    t.same(table(b), table(a), `${type}: tensor tables`);
    t.ok(dataSection(b).equals(dataSection(a)), `${type}: tensor bytes`);
  }
});

function roundToF16(tensors: Map<string, RawTensor>): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [name, x] of tensors) {
    const values = f32(x);
    out.set(name, { dtype: 'F16', shape: x.shape, data: native().quantize('f16', values, values.length) });
  }
  return out;
}

t.test('fp16/model.safetensors converts like the f32 weights rounded to f16', async (t) => {
  const rounded = path.join(tmp, 'rounded');
  copyConfigs(TINY, rounded);
  writeSafetensors(
    path.join(rounded, 'model.safetensors'),
    roundToF16(readSafetensors(path.join(TINY, 'model.safetensors'))),
  );
  const fromFp16 = await convert(t, path.join(TINY, 'fp16'), 'f16', 'tiny-fp16');
  const fromRounded = await convert(t, rounded, 'f16', 'tiny-rounded', TINY);
  t.same(table(fromFp16), table(fromRounded));
  t.ok(dataSection(fromFp16).equals(dataSection(fromRounded)), 'identical tensor bytes');

  // The quantised matrices are the f32 source rounded to f16, so they match the f32 source's f16 conversion too.
  const fromF32 = await convert(t, TINY, 'f16', 'tiny-f32src');
  const matrices = fromF32.tensors.filter((x) => x.type === GGML_TYPE.f16 && !x.name.startsWith('codec.'));
  t.ok(matrices.length > 20);
  for (const x of matrices) t.ok(tensorBytes(fromF32, x.name).equals(tensorBytes(fromFp16, x.name)), x.name);
});

/** Expected storage type per docs/gguf-format.md, decided from the GGUF name and ne0. */
function policyType(name: string, ne0: number, type: OutType): number {
  if (type === 'f32') return GGML_TYPE.f32;
  if (/^codec\..*(conv\.weight|res\.\d+\.weight|lstm\.\d+\.w_(ih|hh))$/.test(name)) return GGML_TYPE.f16;
  const quantised =
    /^(t5\.token_embd|t5\.blk\.\d+\.(attn_[qkvo]|ffn_(up|gate|down))|lm\.tok_embd\.\d+|lm\.blk\.\d+\.(attn_[qkvo]|cross_attn_[qkvo]|ffn_up|ffn_down)|lm\.output\.\d+)\.weight$/;
  if (!quantised.test(name)) return GGML_TYPE.f32;
  if (type === 'f16') return GGML_TYPE.f16;
  const block = type === 'q4_k' ? 256 : 32;
  if (ne0 % block === 0) return GGML_TYPE[type];
  if (type === 'q4_k' && ne0 % 32 === 0) return GGML_TYPE.q8_0;
  return GGML_TYPE.f16;
}

const ggmlName = Object.fromEntries(Object.entries(GGML_TYPE).map(([k, v]) => [v, k])) as Record<number, OutType>;

t.test('stereo converts with every --type, following the quantisation policy bit-exactly', async (t) => {
  const dir = path.join(FIXTURES, 'musicgen-stereo-tiny');
  const reference = await convert(t, dir, 'f32', 'stereo');
  t.equal(reference.metadata.get('musicgen.audio_channels'), 2);
  t.equal(reference.metadata.get('musicgen.lm.codebook_count'), 8);
  t.ok(reference.tensors.some((x) => x.name === 'lm.output.7.weight'));
  const fileTypes = { f32: 0, f16: 1, q8_0: 7, q4_0: 2, q4_k: 15 };
  for (const type of ['f16', 'q8_0', 'q4_0', 'q4_k'] as const) {
    const g = await convert(t, dir, type, 'stereo');
    t.equal(g.metadata.get('general.file_type'), fileTypes[type]);
    t.same(
      g.tensors.map((x) => x.name),
      reference.tensors.map((x) => x.name),
    );
    for (const x of g.tensors) {
      const want = policyType(x.name, x.dims[0]!, type);
      t.equal(x.type, want, `${type}: ${x.name} stored as ${ggmlName[want]}`);
      // Stored bytes are ggml's own encoding of the f32 values.
      const values = tensorF32(reference, x.name);
      const expected =
        want === GGML_TYPE.f32
          ? tensorBytes(reference, x.name)
          : native().quantize(ggmlName[want]!, values, x.dims[0]!);
      if (!tensorBytes(g, x.name).equals(expected)) t.fail(`${type}: ${x.name} bytes differ from ggml's quantiser`);
    }
  }
});

t.test('melody converts: chroma projection and melody keys, no cross-attention', async (t) => {
  const dir = path.join(FIXTURES, 'musicgen-melody-tiny');
  const pre = JSON.parse(fs.readFileSync(path.join(dir, 'preprocessor_config.json'), 'utf8')) as Record<string, number>;
  for (const type of ['f32', 'q8_0'] as const) {
    const g = await convert(t, dir, type, 'melody');
    t.equal(g.metadata.get('musicgen.variant'), 'melody');
    t.equal(g.metadata.get('musicgen.melody.num_chroma'), 12);
    t.equal(g.metadata.get('musicgen.melody.chroma_length'), 235);
    t.equal(g.metadata.get('musicgen.melody.n_fft'), pre.n_fft);
    t.equal(g.metadata.get('musicgen.melody.hop_length'), pre.hop_length);
    t.equal(g.metadata.get('musicgen.melody.chunk_length'), pre.chunk_length);
    t.same(g.tensors.find((x) => x.name === 'cond.chroma_proj.weight')?.dims, [12, 48]);
    t.notOk(g.tensors.some((x) => x.name.includes('cross_attn')));
  }
});

t.test('q4_k is used where rows are a multiple of 256 (decoder ffn_dim widened to 256)', async (t) => {
  // No fixture has 256-wide rows, so widen the LM feed-forward of musicgen-tiny with deterministic values.
  const dir = path.join(tmp, 'wide-ffn');
  copyConfigs(TINY, dir);
  const cfg = config(TINY);
  cfg.decoder!.ffn_dim = 256;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const tensors = readSafetensors(path.join(TINY, 'model.safetensors'));
  const H = cfg.decoder!.hidden_size as number;
  const values = new Float32Array(256 * H).map((_, i) => Math.sin(i * 0.37) * 0.2);
  for (const l of [0, 1]) {
    const data = Buffer.from(values.buffer.slice(0));
    tensors.set(`decoder.model.decoder.layers.${l}.fc1.weight`, { dtype: 'F32', shape: [256, H], data });
    tensors.set(`decoder.model.decoder.layers.${l}.fc2.weight`, { dtype: 'F32', shape: [H, 256], data });
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const g = await convert(t, dir, 'q4_k', 'wide', TINY);
  const down = g.tensors.find((x) => x.name === 'lm.blk.1.ffn_down.weight')!;
  t.equal(down.type, GGML_TYPE.q4_k);
  t.ok(tensorBytes(g, down.name).equals(native().quantize('q4_k', values, 256)));
  t.equal(g.tensors.find((x) => x.name === 'lm.blk.1.ffn_up.weight')!.type, GGML_TYPE.f16, 'ne0 = 48: f16 fallback');
  t.equal(g.tensors.find((x) => x.name === 't5.blk.0.attn_q.weight')!.type, GGML_TYPE.q8_0, 'ne0 = 32: q8_0 fallback');
});
