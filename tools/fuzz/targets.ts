// The TypeScript fuzz targets: every reader of outside data the package has, each with its seeds, its
// mutations and the typed errors it may throw. An execution "passes" when the input is accepted or rejected with
// one of those typed errors; anything else (another exception, a broken invariant, a process crash or hang, see
// run.ts) is a crash.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openAudiocraftLm } from '../../convert/audiocraft/checkpoint';
import { readSentencePieceModel } from '../../convert/sentencepiece';
import { loadTorchStateDict } from '../../convert/pickle';
import { SafetensorsFile } from '../../convert/safetensors';
import { TorchZipFile } from '../../convert/torch-zip';
import { MusicGenError, type MusicGenErrorCode } from '../../lib/errors';
import { melodyWaveform } from '../../lib/melody';
import { MusicGen } from '../../lib/musicgen';
import type { NativeModelInfo } from '../../lib/native';
import { ggufFields, safetensorsFields, wavFields, zipFields } from './fields';
import { mutate, type Rng, type Seed } from './mutate';
import { FIXTURES, zipArchive, zipEntries, type SeedFiles } from './seeds';

export interface TargetInstance {
  /** Input number i of a run (rng is seeded from the run seed and i). */
  generate(rng: Rng): Buffer;
  /** Parses the input (also written to `file`); resolves when accepted, throws when rejected. */
  execute(file: string, bytes: Buffer): Promise<void>;
  dispose?(): void;
}

export interface Target {
  name: string;
  /** Extension of saved inputs. */
  ext: string;
  description: string;
  /** Codes of the typed errors that count as a clean rejection (none: every input must be accepted). */
  codes: readonly MusicGenErrorCode[];
  /** Whether the target needs the native addon. */
  native: boolean;
  create(seeds: SeedFiles): Promise<TargetInstance>;
}

/** A typed rejection for `target`, as opposed to a crash. */
export function isTypedRejection(target: Target, error: unknown): error is MusicGenError {
  return error instanceof MusicGenError && target.codes.includes(error.code);
}

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
};

function seedsOf(files: string[], fields: (buf: Buffer) => Seed['fields']): Seed[] {
  return files.map((f) => {
    const bytes = fs.readFileSync(f);
    return { name: path.basename(f), bytes, fields: fields(bytes) };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors: header JSON mutated structurally (dtypes, shapes, offsets, odd JSON) or bytes mutated.

const ODD_NUMBERS: readonly unknown[] = [
  0,
  1,
  -1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  1e308,
  0.5,
  -0,
  '4',
  null,
  [],
  {},
  true,
];

function mutateSafetensorsHeader(rng: Rng, seed: Seed): Buffer {
  const n = Number(seed.bytes.readBigUInt64LE(0));
  const header = JSON.parse(seed.bytes.toString('utf8', 8, 8 + n)) as Record<string, Record<string, unknown>>;
  let data = seed.bytes.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const count = 1 + rng.skewed(4);
  for (let m = 0; m < count; m++) {
    const name = rng.pick(names);
    // An earlier mutation of this round may have replaced the entry by a non-object (case 5): leave it so.
    const current: unknown = header[name];
    if (current !== undefined && (typeof current !== 'object' || current === null || Array.isArray(current))) continue;
    const entry = header[name] ?? {};
    switch (rng.int(9)) {
      case 0:
        entry.dtype = rng.pick(['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'F64', 'Q4', '', 'f32', 7]);
        break;
      case 1: {
        const shape = Array.isArray(entry.shape) ? [...(entry.shape as unknown[])] : [];
        if (shape.length > 0 && rng.chance(0.7)) shape[rng.int(shape.length)] = rng.pick(ODD_NUMBERS);
        else if (rng.chance(0.5)) shape.push(rng.pick(ODD_NUMBERS));
        else shape.pop();
        entry.shape = shape;
        break;
      }
      case 2: {
        const offsets = Array.isArray(entry.data_offsets) ? [...(entry.data_offsets as unknown[])] : [0, 0];
        offsets[rng.int(2)] = rng.chance(0.5) ? rng.pick(ODD_NUMBERS) : rng.int(data.length + 16);
        if (rng.chance(0.1)) offsets.push(0);
        entry.data_offsets = offsets;
        break;
      }
      case 3: // overlap with another tensor
        entry.data_offsets = header[rng.pick(names)]?.data_offsets;
        break;
      case 4:
        delete entry[rng.pick(['dtype', 'shape', 'data_offsets'])];
        break;
      case 5:
        header[name] = rng.pick([null, [], 'x', 1, {}]) as Record<string, unknown>;
        break;
      case 6:
        header.__metadata__ = rng.pick([{ format: 'pt' }, null, 'x', { dtype: 'F32' }]) as Record<string, unknown>;
        break;
      case 7:
        data = data.subarray(0, rng.int(data.length + 1)); // truncated data section
        break;
      case 8:
        header[rng.pick(['', '__proto__', 'constructor', name + '\u0000', '\ud800'])] = { ...entry };
        break;
    }
  }
  let json = Buffer.from(JSON.stringify(header));
  if (rng.chance(0.1)) json = Buffer.concat([json, Buffer.alloc(rng.int(16), 0x20)]);
  const length = rng.chance(0.9) ? BigInt(json.length) : BigInt(json.length + rng.int(33) - 16);
  return Buffer.concat([u64(length), json, data]);
}

const safetensors: Target = {
  name: 'safetensors',
  ext: '.safetensors',
  description: 'convert/safetensors.ts SafetensorsFile: header validation, then every tensor read',
  codes: ['ERR_MUSICGEN_CONVERT'],
  native: false,
  async create(files) {
    const seeds = seedsOf(files.safetensors, safetensorsFields);
    const dictionary = ['{', '}', '"dtype"', '"shape"', '"data_offsets"', '[', ']', ',', ':', '"F32"', '1e9', '-1'].map(
      ascii,
    );
    return {
      generate: (rng) =>
        rng.chance(0.5) ? mutateSafetensorsHeader(rng, rng.pick(seeds)) : mutate(rng, seeds, { dictionary }),
      async execute(file) {
        const source = new SafetensorsFile(file);
        try {
          for (const name of source.names()) readOrTyped(() => source.read(name));
        } finally {
          source.close();
        }
      },
    };
  },
};

// A tensor of an integer dtype is refused only when read: a typed error there still lets the rest be read.
function readOrTyped(read: () => Float32Array): void {
  try {
    read();
  } catch (error) {
    if (!(error instanceof MusicGenError && error.code === 'ERR_MUSICGEN_CONVERT')) throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// torch.save zip archives and their pickles.

const PICKLE_DICTIONARY: readonly Buffer[] = [
  ...[0x80, 0x95, 0x2e, 0x7d, 0x29, 0x5d, 0x28, 0x4e, 0x88, 0x89, 0x74, 0x85, 0x86, 0x87, 0x94, 0x73, 0x75, 0x61]
    .concat([0x65, 0x51, 0x52, 0x62, 0x93, 0x71, 0x68, 0x4b, 0x4d, 0x8c, 0x8a, 0x4a, 0x58, 0x6a, 0x72, 0x63, 0x00])
    .map((op) => Buffer.from([op])),
  Buffer.from([0x4a, 0xff, 0xff, 0xff, 0xff]), // BININT -1
  Buffer.from([0x4a, 0x00, 0x00, 0x00, 0x80]), // BININT -2^31
  Buffer.from([0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x80]), // LONG1 -2^63
  Buffer.from([0x8a, 0x09, 0, 0, 0, 0, 0, 0, 0x20, 0, 0]), // LONG1 2^53
  Buffer.from([0x58, 0xff, 0xff, 0xff, 0x7f]), // BINUNICODE of length 2^31-1
  Buffer.from([0x6a, 0xff, 0xff, 0xff, 0xff]), // LONG_BINGET 2^32-1
  ascii('ctorch._utils\n_rebuild_tensor_v2\n'),
  ascii('ctorch._utils\n_rebuild_parameter\n'),
  ascii('ctorch\nHalfStorage\n'),
  ascii('ctorch\nBFloat16Storage\n'),
  ascii('ccollections\nOrderedDict\n'),
  ascii('cos\nsystem\n'),
  ascii('storage'),
];

const pickle: Target = {
  name: 'pickle',
  ext: '.pkl',
  description: 'convert/pickle.ts loadTorchStateDict on a data.pkl',
  codes: ['ERR_MUSICGEN_CONVERT'],
  native: false,
  async create(files) {
    const seeds = seedsOf(files.pickle, () => []);
    return {
      generate: (rng) => mutate(rng, seeds, { dictionary: PICKLE_DICTIONARY, headerBytes: 1 << 20 }),
      async execute(file, bytes) {
        loadTorchStateDict(bytes, file);
      },
    };
  },
};

const torchZip: Target = {
  name: 'torch-zip',
  ext: '.bin',
  description: 'convert/torch-zip.ts TorchZipFile (zip directory, zip64, deflate, pickle, views), every tensor read',
  codes: ['ERR_MUSICGEN_CONVERT'],
  native: false,
  async create(files) {
    const seeds = seedsOf(files.torchZip, zipFields);
    const dictionary = [
      ...PICKLE_DICTIONARY,
      u32(0x06054b50),
      u32(0x02014b50),
      u32(0x04034b50),
      u32(0x06064b50),
      u32(0x07064b50),
      Buffer.from([0x01, 0x00, 0x18, 0x00]), // zip64 extra field header
      u32(0xffffffff),
      ascii('archive/data.pkl'),
      ascii('archive/data/0'),
    ];
    return {
      generate: (rng) => mutate(rng, seeds, { dictionary, headerBytes: 1 << 20 }),
      async execute(file) {
        const source = new TorchZipFile(file);
        try {
          for (const name of source.names()) source.read(name);
        } finally {
          source.close();
        }
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// audiocraft export (state_dict.bin): the fixture's tensors with a mutated data.pkl (export dict + xp.cfg YAML).

const AUDIOCRAFT_DICTIONARY = [
  ...PICKLE_DICTIONARY,
  ascii('best_state'),
  ascii('fsdp_best_state'),
  ascii('xp.cfg'),
  ascii('transformer_lm'),
  ascii('${sample_rate}'),
  ascii('${oc.env:X}'),
  ascii('prepend'),
  ascii('cross'),
  ascii(': '),
  ascii('\n  - '),
  ascii('&a '),
  ascii('*a'),
  ascii('null'),
  ascii('true'),
  ascii('[]'),
  ascii('{}'),
];

const audiocraft: Target = {
  name: 'audiocraft',
  ext: '.pkl',
  description:
    'convert/audiocraft/checkpoint.ts openAudiocraftLm: export dict, xp.cfg (YAML, checks), name map, every tensor read',
  codes: ['ERR_MUSICGEN_CONVERT'],
  native: false,
  async create() {
    const archive = zipEntries(
      fs.readFileSync(path.join(FIXTURES, 'musicgen-melody-tiny', 'audiocraft', 'state_dict.bin')),
    );
    const pickleEntry = archive.find(([name]) => name.endsWith('/data.pkl'));
    if (!pickleEntry) throw new Error('audiocraft fixture has no data.pkl');
    const seeds: Seed[] = [{ name: 'melody-data.pkl', bytes: pickleEntry[1], fields: [] }];
    return {
      generate: (rng) => mutate(rng, seeds, { dictionary: AUDIOCRAFT_DICTIONARY, headerBytes: 1 << 20 }),
      async execute(file, bytes) {
        const dir = `${file}.export`;
        fs.mkdirSync(dir, { recursive: true });
        try {
          const entries = archive.map(([name, data]): [string, Buffer] => [
            name,
            name.endsWith('/data.pkl') ? bytes : data,
          ]);
          fs.writeFileSync(path.join(dir, 'state_dict.bin'), zipArchive(entries, false));
          const lm = openAudiocraftLm(dir);
          try {
            for (const name of lm.source.names()) lm.source.read(name);
          } finally {
            lm.source.close();
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// spiece.model (protobuf).

const spiece: Target = {
  name: 'spiece',
  ext: '.model',
  description: 'convert/sentencepiece.ts readSentencePieceModel (protobuf wire format)',
  codes: ['ERR_MUSICGEN_CONVERT'],
  native: false,
  async create(files) {
    const seeds = seedsOf(files.spiece, () => []);
    const dictionary = [
      [0x0a], // pieces
      [0x12], // trainer_spec
      [0x1a], // normalizer_spec
      [0x15], // score (fixed32)
      [0x18], // type (varint)
      [0x18, 0x07], // type 7
      [0x18, 0x00],
      [0x18, 0xff, 0xff, 0xff, 0xff, 0x0f],
      [0xc0, 0x02], // unk_id field 40
      [0xd0, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // eos_id -1 (10-byte varint)
      [0x18, 0x02], // model_type BPE (in trainer_spec)
      [0xff, 0xff, 0xff, 0xff, 0x07],
      [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // 11-byte varint
      [0x0b], // start group
      [0x0e], // wire type 6
      [0xff, 0xfe],
    ].map((b) => Buffer.from(b));
    return {
      generate: (rng) => mutate(rng, seeds, { dictionary, headerBytes: 1 << 16 }),
      async execute(file) {
        readSentencePieceModel(file);
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// WAV input of melody / audio prompts: decode, checks, downmix, resample to the model rate.

const MELODY_INFO = {
  variant: 'melody',
  sampleRate: 32000,
  hparams: { melody: { numChroma: 12, chromaLength: 235, nFft: 16384, hopLength: 4096, chunkLength: 30 } },
} as unknown as Pick<NativeModelInfo, 'variant' | 'sampleRate' | 'hparams'>;

const wav: Target = {
  name: 'wav',
  ext: '.wav',
  description:
    'lib/melody.ts readAudio/decodeWav (wavefile) + downmix + resample, as melody/audioPrompt files are read',
  codes: ['ERR_MUSICGEN_INVALID_OPTION'],
  native: false,
  async create(files) {
    const seeds = seedsOf(files.wav, wavFields).map((s) =>
      // The fixture prompt is 2 s of audio: its first 4 KB keep executions fast (a data size that lies is a case).
      s.bytes.length > 8192 ? { ...s, bytes: s.bytes.subarray(0, 4096) } : s,
    );
    const dictionary = ['RIFF', 'RIFX', 'RF64', 'WAVE', 'fmt ', 'data', 'fact', 'LIST', 'cue ', 'bext', 'ds64']
      .map(ascii)
      .concat([
        u32(0),
        u32(0xffffffff),
        Buffer.from([0xfe, 0xff]),
        Buffer.from([0x03, 0x00]),
        Buffer.from([0x11, 0x00]),
      ]);
    return {
      generate: (rng) => mutate(rng, seeds, { dictionary, headerBytes: 128 }),
      async execute(file) {
        await melodyWaveform(MELODY_INFO, { path: file });
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// GGUF through the addon: MusicGen.inspect, then MusicGen.load (tensor placement) and a tokenize.

const gguf: Target = {
  name: 'gguf',
  ext: '.gguf',
  description: 'MusicGen.inspect + MusicGen.load (native loader through the addon) of mutated small models',
  codes: ['ERR_MUSICGEN_MODEL_INVALID'],
  native: true,
  async create(files) {
    const seeds = seedsOf(files.gguf, ggufFields);
    const dictionary = [
      ascii('GGUF'),
      ...[0, 1, 4, 5, 6, 7, 8, 9, 10, 12, 13, 0xffffffff].map(u32),
      ascii('musicgen'),
      ascii('general.architecture'),
      ascii('tokenizer.ggml.tokens'),
    ];
    return {
      generate: (rng) => mutate(rng, seeds, { dictionary, headerBytes: 1 << 16 }),
      async execute(file) {
        MusicGen.inspect(file);
        const model = await MusicGen.load(file, { backend: 'cpu', threads: 1 });
        try {
          model.tokenize('lofi beat </s> <extra_id_0>');
        } finally {
          model.dispose();
        }
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer on arbitrary strings (lone surrogates included) through gen.tokenize: must always succeed.

const SPECIAL_FRAGMENTS = [
  '</s>',
  '<pad>',
  '<unk>',
  '<extra_id_0>',
  '<extra_id_99>',
  '<extra_id_100>',
  '<extra_id_099>',
  '<extra_id_4294967296>',
  '<extra_id_',
  '<extra_id_-1>',
  '\u2581',
  ' ',
  '  ',
  '\t',
  '\n',
  '\u3000',
  '\u00a0',
  '\u200b',
  '\ufeff',
  '\ufffd',
  '\ud800',
  '\udfff',
  '\ud83c\udfb5',
  'ﬁ',
  'Ａ',
  'é',
  'e\u0301',
  '\u0000',
  '\u007f',
  '\u0085',
  '\u2028',
];

function randomText(rng: Rng, corpus: readonly string[]): string {
  const base = rng.chance(0.5) ? rng.pick(corpus) : '';
  const chars = Array.from(base);
  const count = 1 + rng.skewed(16);
  for (let m = 0; m < count; m++) {
    const at = rng.int(chars.length + 1);
    switch (rng.int(5)) {
      case 0:
        chars.splice(at, 0, rng.pick(SPECIAL_FRAGMENTS));
        break;
      case 1: // any UTF-16 code unit (lone surrogates included)
        chars.splice(at, 0, String.fromCharCode(rng.int(0x10000)));
        break;
      case 2: // any code point
        chars.splice(at, 0, String.fromCodePoint(rng.int(0x110000)));
        break;
      case 3:
        chars.splice(at, 1 + rng.int(4));
        break;
      case 4: // long runs
        chars.splice(at, 0, rng.pick(SPECIAL_FRAGMENTS.concat(['a', 'ab '])).repeat(1 + rng.skewed(2000)));
        break;
    }
  }
  return chars.join('');
}

const tokenize: Target = {
  name: 'tokenize',
  ext: '.json',
  description: 'MusicGen#tokenize (native T5 tokenizer) on random strings; inputs saved as a JSON string',
  codes: [],
  native: true,
  async create(files) {
    const model = await MusicGen.load(files.tokenizerModel, { backend: 'cpu', threads: 1 });
    const vocab = model.info.hparams.t5.vocabSize;
    const cases = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tokenizer', 'cases.json'), 'utf8')) as unknown;
    const corpus = collectStrings(cases).slice(0, 2000);
    return {
      generate: (rng) => Buffer.from(JSON.stringify(randomText(rng, corpus))),
      async execute(_file, bytes) {
        const text = JSON.parse(bytes.toString('utf8')) as unknown;
        if (typeof text !== 'string') throw new TypeError('tokenize input file must hold a JSON string');
        const ids = model.tokenize(text);
        if (!(ids instanceof Int32Array) || ids.length === 0 || ids[ids.length - 1] !== 1) {
          throw new Error(`tokenize returned ${ids.length} ids not ending with EOS (1)`);
        }
        for (const id of ids) {
          if (id < 0 || id >= vocab) throw new Error(`tokenize returned id ${id} outside 0..${vocab - 1}`);
        }
      },
      dispose: () => model.dispose(),
    };
  },
};

function collectStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => collectStrings(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => collectStrings(v, out));
  return out;
}

export const TARGETS: readonly Target[] = [safetensors, torchZip, pickle, audiocraft, spiece, wav, gguf, tokenize];

export function targetByName(name: string): Target | undefined {
  return TARGETS.find((t) => t.name === name);
}
