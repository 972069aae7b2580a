// The GGUF model loader: good files load (text, melody, stereo; float and quantised) with info derived
// from their metadata, and every kind of broken file fails with a ModelError naming the problem.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { ModelError, MusicGen, MusicGenError } from '../lib/index';
import { readGguf, tensorByteSize } from './helpers/gguf-reader';
import { readForPatch, stringValue, writePatched, type PatchableGguf } from './helpers/gguf-patch';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-loader-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const models: Record<string, string> = {};
t.before(async () => {
  const jobs: Array<[string, string, 'f32' | 'q8_0']> = [
    ['tiny', 'musicgen-tiny', 'f32'],
    ['tiny-q8_0', 'musicgen-tiny', 'q8_0'],
    ['melody', 'musicgen-melody-tiny', 'f32'],
    ['stereo', 'musicgen-stereo-tiny', 'f32'],
  ];
  for (const [key, dir, type] of jobs) {
    models[key] = path.join(tmp, `${key}.gguf`);
    await convertCheckpoint(path.join(fixtures, dir), models[key]!, { type });
  }
});

const model = (key: string): string => models[key]!;

t.test('loads text, melody and stereo models with info taken from the metadata', async (t) => {
  for (const key of ['tiny', 'tiny-q8_0', 'melody', 'stereo']) {
    const meta = readGguf(model(key)).metadata;
    const mg = await MusicGen.load(model(key), { backend: 'cpu', threads: 2 });
    const info = mg.info;
    t.equal(info.sampleRate, meta.get('musicgen.sample_rate'), `${key} sampleRate`);
    t.equal(info.frameRate, meta.get('musicgen.frame_rate'), `${key} frameRate`);
    t.equal(info.channels, meta.get('musicgen.audio_channels'), `${key} channels`);
    t.equal(info.codebooks, meta.get('musicgen.lm.codebook_count'), `${key} codebooks`);
    t.equal(info.variant, meta.get('musicgen.variant'), `${key} variant`);
    t.equal(info.fileType, meta.get('general.file_type'), `${key} fileType`);
    t.equal(
      info.maxDuration,
      (meta.get('musicgen.generation.max_length') as number) / (meta.get('musicgen.frame_rate') as number),
      `${key} maxDuration`,
    );
    t.equal(info.backend, 'CPU');
    t.equal(info.threads, 2);
    t.same(info.hparams.codec.upsamplingRatios, meta.get('musicgen.codec.upsampling_ratios'));
    t.equal(info.hparams.lm.blockCount, meta.get('musicgen.lm.block_count'));
    t.equal(info.hparams.t5.headCount, meta.get('musicgen.t5.head_count'));
    t.equal(info.hparams.melody?.numChroma, meta.get('musicgen.melody.num_chroma'));
    mg.dispose();
  }
  const melody = await MusicGen.load(model('melody'), { backend: 'cpu' });
  t.equal(melody.info.variant, 'melody');
  melody.dispose();
  const stereo = await MusicGen.load(model('stereo'), { backend: 'cpu' });
  t.equal(stereo.info.channels, 2);
  stereo.dispose();
});

t.test('tokenize goes through the model tokenizer', async (t) => {
  const cases = JSON.parse(fs.readFileSync(path.join(fixtures, 'tokenizer', 'cases.json'), 'utf8')) as {
    cases: Array<{ text: string; input_ids: number[] }>;
  };
  const mg = await MusicGen.load(model('tiny'));
  for (const c of cases.cases.slice(0, 5)) t.same(Array.from(mg.tokenize(c.text)), c.input_ids, c.text);
  mg.dispose();
});

t.test('inspect lists every tensor and key of the file', async (t) => {
  const file = readGguf(model('melody'));
  const result = MusicGen.inspect(model('melody'));
  t.equal(result.fileBytes, fs.statSync(model('melody')).size);
  t.equal(result.dataOffset, file.dataOffset);
  t.equal(result.tensors.length, file.tensors.length);
  for (const [i, tensor] of file.tensors.entries()) {
    const got = result.tensors[i]!;
    t.equal(got.name, tensor.name);
    // ggml drops trailing 1-sized dimensions from the shape.
    const dims = [...tensor.dims];
    while (dims.length > 1 && dims[dims.length - 1] === 1) dims.pop();
    t.same(got.shape, dims, tensor.name);
    t.equal(got.offset, tensor.offset, tensor.name);
    t.equal(got.bytes, tensorByteSize(tensor), tensor.name);
  }
  t.equal(result.metadata['general.architecture'], 'musicgen');
  t.same(result.metadata['musicgen.codec.upsampling_ratios'], file.metadata.get('musicgen.codec.upsampling_ratios'));
  const tokens = file.metadata.get('tokenizer.ggml.tokens') as string[];
  t.same(result.metadata['tokenizer.ggml.tokens'], { type: 'str[]', length: tokens.length });
});

// Each broken file must fail in inspect() and load() alike, with a ModelError naming the problem.
async function rejectsBoth(t: Test, file: string, code: string, message: RegExp) {
  t.throws(() => MusicGen.inspect(file), { name: 'ModelError', code, message, file });
  await t.rejects(MusicGen.load(file), { name: 'ModelError', code, message, file });
}

function patched(name: string, change: (g: PatchableGguf) => void): string {
  const g = readForPatch(model('tiny'));
  change(g);
  const out = path.join(tmp, `${name}.gguf`);
  writePatched(out, g);
  return out;
}

t.test('broken files give ModelErrors that name the problem', async (t) => {
  await rejectsBoth(t, path.join(tmp, 'nope.gguf'), 'ERR_MUSICGEN_MODEL_NOT_FOUND', /no such file/);
  await rejectsBoth(t, tmp, 'ERR_MUSICGEN_MODEL_NOT_FOUND', /is a directory/);

  const random = path.join(tmp, 'random.gguf');
  fs.writeFileSync(random, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)));
  await rejectsBoth(t, random, 'ERR_MUSICGEN_MODEL_INVALID', /not a GGUF file or corrupt header/);

  const good = fs.readFileSync(model('tiny'));
  const last = readGguf(model('tiny')).tensors.at(-1)!;
  const truncated = path.join(tmp, 'truncated.gguf');
  fs.writeFileSync(truncated, good.subarray(0, good.length - 100));
  await rejectsBoth(
    t,
    truncated,
    'ERR_MUSICGEN_MODEL_INVALID',
    new RegExp(
      `tensor '${last.name.replace(/\./g, '\\.')}' data ends at byte \\d+ but the file has only ${good.length - 100} bytes`,
    ),
  );

  const llama = patched('llama', (g) => g.metadata.set('general.architecture', stringValue('llama')));
  await rejectsBoth(
    t,
    llama,
    'ERR_MUSICGEN_MODEL_INVALID',
    /architecture 'llama' is not supported, expected 'musicgen'/,
  );

  const noKey = patched('no-key', (g) => g.metadata.delete('musicgen.lm.block_count'));
  await rejectsBoth(t, noKey, 'ERR_MUSICGEN_MODEL_INVALID', /required key 'musicgen\.lm\.block_count' is missing/);

  const badKey = patched('bad-key', (g) => g.metadata.set('musicgen.lm.head_count', stringValue('four')));
  await rejectsBoth(
    t,
    badKey,
    'ERR_MUSICGEN_MODEL_INVALID',
    /key 'musicgen\.lm\.head_count' has type str, expected u32/,
  );

  const missing = patched('missing', (g) => (g.tensors = g.tensors.filter((x) => x.name !== 'lm.output.1.weight')));
  await rejectsBoth(t, missing, 'ERR_MUSICGEN_MODEL_INVALID', /missing tensor 'lm\.output\.1\.weight'/);

  let shape = '';
  const reshaped = patched('reshaped', (g) => {
    const ffn = g.tensors.find((x) => x.name === 't5.blk.0.ffn_up.weight')!;
    shape = `\\[${ffn.dims.join(', ')}\\]`;
    ffn.dims = [...ffn.dims].reverse();
  });
  await rejectsBoth(
    t,
    reshaped,
    'ERR_MUSICGEN_MODEL_INVALID',
    new RegExp(`tensor 't5\\.blk\\.0\\.ffn_up\\.weight' has shape \\[.*\\], expected ${shape}`),
  );

  const retyped = patched('retyped', (g) => {
    const norm = g.tensors.find((x) => x.name === 't5.output_norm.weight')!;
    norm.type = 1; // f16, where the format requires f32
    norm.data = Buffer.alloc((norm.dims[0]! * 2 + 31) & ~31);
  });
  await rejectsBoth(
    t,
    retyped,
    'ERR_MUSICGEN_MODEL_INVALID',
    /tensor 't5\.output_norm\.weight' has type f16, expected f32/,
  );

  const extra = patched('extra', (g) => {
    const norm = g.tensors.find((x) => x.name === 't5.output_norm.weight')!;
    g.tensors.push({ ...norm, name: 't5.blk.0.ffn_gate.weight' });
  });
  await rejectsBoth(t, extra, 'ERR_MUSICGEN_MODEL_INVALID', /unexpected tensor 't5\.blk\.0\.ffn_gate\.weight'/);
});

t.test('dispose is idempotent and later use throws ERR_MUSICGEN_DISPOSED', async (t) => {
  const mg = await MusicGen.load(model('tiny'));
  mg.dispose();
  mg.dispose();
  t.throws(() => mg.info, { name: 'MusicGenError', code: 'ERR_MUSICGEN_DISPOSED' });
  t.throws(() => mg.tokenize('piano'), { name: 'MusicGenError', code: 'ERR_MUSICGEN_DISPOSED' });
  const scoped = await MusicGen.load(model('tiny'));
  await scoped[Symbol.asyncDispose]();
  t.throws(() => scoped.info, { code: 'ERR_MUSICGEN_DISPOSED' });
});

t.test('options are validated before touching the file', async (t) => {
  await t.rejects(MusicGen.load(model('tiny'), { threads: 0 }), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: 'Expected integer between 1 and 512 for threads but received 0 of type number',
  });
  await t.rejects(MusicGen.load(model('tiny'), { backend: 'tpu' as 'cpu' }), {
    code: 'ERR_MUSICGEN_INVALID_OPTION',
    message: /Expected one of 'auto', 'cpu', 'cuda', 'vulkan', 'metal' for backend/,
  });
  t.throws(() => MusicGen.inspect(''), { code: 'ERR_MUSICGEN_INVALID_OPTION' });
});

t.test('a GPU backend that is not there is a clear backend error', async (t) => {
  for (const backend of ['cuda', 'metal'] as const) {
    try {
      const mg = await MusicGen.load(model('tiny'), { backend });
      t.match(mg.info.backend, backend === 'cuda' ? /^CUDA/ : /^MTL/);
      mg.dispose();
    } catch (error) {
      t.match(error, { name: 'MusicGenError', code: 'ERR_MUSICGEN_BACKEND', message: /not available/ });
    }
  }
});

t.test('auto picks a device and reports it', async (t) => {
  const mg = await MusicGen.load(model('tiny-q8_0'));
  t.match(mg.info.backend, /^(CPU|CUDA\d+|MTL\d+)$/);
  t.equal(mg.tokenize('').length, 1);
  mg.dispose();
});
