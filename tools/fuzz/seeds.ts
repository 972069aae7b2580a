// Seed corpora of the fuzz targets, built once into a cache folder from the test fixtures: the fixture
// spiece.model / WAVs / pickle as they are, and small files of every format made with the project's own writers
// (a random-weight checkpoint with toy sizes, converted to GGUF f32/q8_0, text and melody; torch zips stored and
// deflated; WAVs of every accepted encoding). Small seeds keep each execution cheap.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { WaveFile } from 'wavefile';
import { convertCheckpoint } from '../../convert/convert';
import { resolveSpec } from '../presets';
import { writeRandomCheckpoint } from '../random-checkpoint';
import { readPrecompiledCharsmap, spieceModel } from '../spiece-writer';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures');
/** Bump when the seeds change so stale caches are rebuilt. */
const SEED_VERSION = 1;

// Toy sizes: every tensor the format defines, a 64-piece vocabulary, a few KB of weights per component.
const SMALL = [
  'tokenizer.pieces=64',
  'text_encoder.d_model=32',
  'text_encoder.d_ff=32',
  'text_encoder.num_layers=1',
  'text_encoder.num_heads=2',
  'text_encoder.d_kv=4',
  'decoder.hidden_size=32',
  'decoder.num_hidden_layers=1',
  'decoder.num_attention_heads=2',
  'decoder.ffn_dim=32',
  'decoder.vocab_size=16',
  'audio_encoder.codebook_size=16',
  'decoder.max_position_embeddings=8',
  'audio_encoder.num_lstm_layers=1',
];

export interface SeedFiles {
  dir: string;
  /** Small GGUF models (text f32, text q8_0, melody f32). */
  gguf: string[];
  /** GGUF converted from test/fixtures/musicgen-tiny: the real t5-base tokenizer. */
  tokenizerModel: string;
  safetensors: string[];
  torchZip: string[];
  pickle: string[];
  spiece: string[];
  wav: string[];
  /** The fixture's nmt_nfkc precompiled charsmap. */
  charsmap: string;
}

function list(dir: string, ext: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Builds the seeds into `cacheDir` unless a complete build of this version is there. */
export async function prepareSeeds(cacheDir: string): Promise<SeedFiles> {
  const dir = path.join(cacheDir, `seeds-v${SEED_VERSION}`);
  const done = path.join(dir, '.complete');
  const files = (): SeedFiles => ({
    dir,
    gguf: list(path.join(dir, 'gguf'), '.gguf'),
    tokenizerModel: path.join(dir, 'tokenizer', 'musicgen-tiny.gguf'),
    safetensors: list(path.join(dir, 'safetensors'), '.safetensors'),
    torchZip: list(path.join(dir, 'torch-zip'), '.bin'),
    pickle: list(path.join(dir, 'pickle'), '.pkl'),
    spiece: list(path.join(dir, 'spiece'), '.model'),
    wav: list(path.join(dir, 'wav'), '.wav'),
    charsmap: path.join(dir, 'charsmap.bin'),
  });
  if (fs.existsSync(done)) return files();
  fs.rmSync(dir, { recursive: true, force: true });
  for (const sub of ['gguf', 'tokenizer', 'safetensors', 'torch-zip', 'pickle', 'spiece', 'wav', 'checkpoints']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }

  // Checkpoints: text (safetensors f32 and f16) and melody.
  const text = path.join(dir, 'checkpoints', 'text');
  const textF16 = path.join(dir, 'checkpoints', 'text-f16');
  const melody = path.join(dir, 'checkpoints', 'melody');
  const common = { seed: 1, maxShardBytes: 5e9 };
  writeRandomCheckpoint({ dir: text, spec: resolveSpec('tiny', SMALL), dtype: 'f32', ...common });
  writeRandomCheckpoint({ dir: textF16, spec: resolveSpec('tiny', SMALL), dtype: 'f16', ...common });
  writeRandomCheckpoint({ dir: melody, spec: resolveSpec('tiny-melody', SMALL), dtype: 'f32', ...common });
  fs.copyFileSync(path.join(text, 'model.safetensors'), path.join(dir, 'safetensors', 'text-f32.safetensors'));
  fs.copyFileSync(path.join(textF16, 'model.safetensors'), path.join(dir, 'safetensors', 'text-f16.safetensors'));
  fs.copyFileSync(path.join(melody, 'model.safetensors'), path.join(dir, 'safetensors', 'melody-f32.safetensors'));

  await convertCheckpoint(text, path.join(dir, 'gguf', 'text-f32.gguf'), { type: 'f32' });
  try {
    // Quantised seeds need the addon's quantisers; without an addon the f32 seeds still cover the format.
    await convertCheckpoint(text, path.join(dir, 'gguf', 'text-q8_0.gguf'), { type: 'q8_0' });
  } catch (error) {
    console.error(`fuzz: no q8_0 GGUF seed (${(error as Error).message.split('\n')[0]})`);
  }
  await convertCheckpoint(melody, path.join(dir, 'gguf', 'melody-f32.gguf'), { type: 'f32' });
  await convertCheckpoint(path.join(FIXTURES, 'musicgen-tiny'), path.join(dir, 'tokenizer', 'musicgen-tiny.gguf'), {
    type: 'f32',
  });

  // torch.save archives of the small text checkpoint: stored and deflated.
  const tensors = readSafetensorsF32(path.join(text, 'model.safetensors'));
  const pickle = stateDictPickle(tensors.map((t, i) => ({ name: t.name, key: String(i), shape: t.shape })));
  const entries: Array<[string, Buffer]> = [
    ['archive/data.pkl', pickle],
    ...tensors.map((t, i): [string, Buffer] => [`archive/data/${i}`, t.data]),
  ];
  fs.writeFileSync(path.join(dir, 'torch-zip', 'small-stored.bin'), zipArchive(entries, false));
  fs.writeFileSync(path.join(dir, 'torch-zip', 'small-deflated.bin'), zipArchive(entries, true));

  // Pickles: the fixture's real torch.save data.pkl and the small one.
  fs.writeFileSync(path.join(dir, 'pickle', 'small.pkl'), pickle);
  const fixturePickle = zipEntry(
    fs.readFileSync(path.join(FIXTURES, 'musicgen-tiny', 'bin', 'pytorch_model.bin')),
    /data\.pkl$/,
  );
  if (fixturePickle) fs.writeFileSync(path.join(dir, 'pickle', 'fixture.pkl'), fixturePickle);

  // SentencePiece models: the fixture's (t5-base, nmt_nfkc charsmap) and small synthetic ones.
  const fixtureSpiece = fs.readFileSync(path.join(FIXTURES, 'tokenizer', 'spiece.model'));
  const charsmap = readPrecompiledCharsmap(fixtureSpiece) ?? new Uint8Array(0);
  fs.writeFileSync(path.join(dir, 'charsmap.bin'), charsmap);
  fs.writeFileSync(path.join(dir, 'spiece', 'fixture.model'), fixtureSpiece);
  fs.writeFileSync(path.join(dir, 'spiece', 'small.model'), spieceModel({ pieces: 64 }));
  fs.writeFileSync(
    path.join(dir, 'spiece', 'small-charsmap.model'),
    spieceModel({ pieces: 40, precompiledCharsmap: charsmap }),
  );

  // WAVs: the fixture prompt and every encoding decodeWav accepts, short.
  fs.copyFileSync(
    path.join(FIXTURES, 'musicgen-tiny', 'goldens', 'prompt_audio_0.wav'),
    path.join(dir, 'wav', 'fixture-prompt.wav'),
  );
  const tone = (n: number, phase: number) =>
    Float64Array.from({ length: n }, (_, i) => 0.5 * Math.sin(0.05 * i + phase));
  const write = (name: string, channels: number, rate: number, depth: string, scale: number) => {
    const data = Array.from({ length: channels }, (_, c) => Array.from(tone(64, c), (v) => Math.round(v * scale)));
    const wav = new WaveFile();
    wav.fromScratch(channels, rate, depth, channels === 1 ? data[0]! : data);
    fs.writeFileSync(path.join(dir, 'wav', name), Buffer.from(wav.toBuffer()));
  };
  write('pcm8.wav', 1, 8000, '8', 127); // wavefile takes 8-bit as signed and stores it unsigned
  write('pcm16-stereo.wav', 2, 44100, '16', 32767);
  write('pcm24.wav', 1, 32000, '24', 8388607);
  write('pcm32.wav', 1, 48000, '32', 2147483647);
  const floats = (name: string, depth: string, channels: number) => {
    const wav = new WaveFile();
    const data = Array.from({ length: channels }, (_, c) => Array.from(tone(64, c)));
    wav.fromScratch(channels, 32000, depth, channels === 1 ? data[0]! : data);
    fs.writeFileSync(path.join(dir, 'wav', name), Buffer.from(wav.toBuffer()));
  };
  floats('float32.wav', '32f', 1);
  floats('float64-stereo.wav', '64', 2);
  const extensible = new WaveFile();
  extensible.fromScratch(
    3,
    16000,
    '16',
    Array.from({ length: 3 }, (_, c) => Array.from(tone(32, c), (v) => Math.round(v * 32767))),
  );
  fs.writeFileSync(path.join(dir, 'wav', 'pcm16-3ch-extensible.wav'), Buffer.from(extensible.toBuffer()));

  fs.rmSync(path.join(dir, 'checkpoints'), { recursive: true, force: true });
  fs.writeFileSync(done, '');
  return files();
}

interface F32Tensor {
  name: string;
  shape: number[];
  data: Buffer;
}

function readSafetensorsF32(file: string): F32Tensor[] {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<
    string,
    { shape: number[]; data_offsets: [number, number] }
  >;
  return Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, e]) => ({
      name,
      shape: e.shape,
      data: buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]),
    }));
}

/** Pickle protocol 2 as torch.save writes a state dict of FloatStorage tensors (memoised, with BINPUT). */
export function stateDictPickle(tensors: Array<{ name: string; key: string; shape: number[] }>): Buffer {
  const parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  const op = (...bytes: number[]) => parts.push(Buffer.from(bytes));
  let memo = 0;
  const put = () => op(0x71, memo++ & 0xff);
  const str = (s: string) => {
    const b = Buffer.from(s);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(Buffer.from('X'), len, b);
    put();
  };
  const int = (n: number) => {
    if (n < 256) op(0x4b, n);
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(n, 1);
      parts.push(b);
    }
  };
  const global = (module: string, name: string) => {
    parts.push(Buffer.from(`c${module}\n${name}\n`));
    put();
  };
  const tuple = (values: number[]) => {
    op(0x28);
    values.forEach(int);
    op(0x74);
    put();
  };
  global('collections', 'OrderedDict');
  op(0x29, 0x52); // (), REDUCE
  put();
  op(0x28); // MARK
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    str(t.name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28); // MARK (args)
    op(0x28);
    str('storage');
    global('torch', 'FloatStorage');
    str(t.key);
    str('cpu');
    int(numel);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(0);
    tuple(t.shape);
    tuple(stride);
    op(0x89); // NEWFALSE
    global('collections', 'OrderedDict');
    op(0x29, 0x52); // (), REDUCE
    op(0x74, 0x52); // TUPLE, REDUCE
    put();
  }
  op(0x75); // SETITEMS
  return Buffer.concat([...parts, Buffer.from('.')]);
}

/** A zip archive (local headers + central directory), stored or deflated. */
export function zipArchive(entries: Array<[string, Buffer]>, deflate: boolean): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = deflate ? zlib.deflateRawSync(content) : content;
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(zlib.crc32(content), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(deflate ? 8 : 0, 10);
    cd.writeUInt32LE(zlib.crc32(content), 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(content.length, 24);
    cd.writeUInt16LE(nameBytes.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, nameBytes, data);
    central.push(cd, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBytes, end]);
}

/** Every entry of a zip archive (stored or deflated), from the central directory, in its order. */
export function zipEntries(zip: Buffer): Array<[string, Buffer]> {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) return [];
  const out: Array<[string, Buffer]> = [];
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < zip.readUInt16LE(eocd + 10); i++) {
    const nameLength = zip.readUInt16LE(p + 28);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLength);
    out.push([entryName, zipEntry(zip, new RegExp(`^${entryName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`))!]);
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return out;
}

/** The content of the first entry whose name matches (stored or deflated), from the central directory. */
function zipEntry(zip: Buffer, name: RegExp): Buffer | undefined {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) return undefined;
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < zip.readUInt16LE(eocd + 10); i++) {
    const nameLength = zip.readUInt16LE(p + 28);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLength);
    if (name.test(entryName)) {
      const local = zip.readUInt32LE(p + 42);
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + zip.readUInt32LE(p + 20));
      return zip.readUInt16LE(p + 10) === 8 ? zlib.inflateRawSync(data) : Buffer.from(data);
    }
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return undefined;
}
