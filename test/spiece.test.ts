import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { readSentencePieceModel } from '../convert/sentencepiece';
import { ConvertError } from '../lib/errors';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const modelFile = path.join(fixtures, 'tokenizer', 'spiece.model');
const vocabFile = path.join(fixtures, 'tokenizer', 'spiece.vocab');
const cases = JSON.parse(fs.readFileSync(path.join(fixtures, 'tokenizer', 'cases.json'), 'utf8')) as {
  tokenizer: { sentencepiece_piece_size: number; pad_id: number; eos_id: number; unk_id: number };
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spiece-test-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeTemp(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Protobuf encoding helpers for hand-built models. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
const bytesField = (field: number, payload: number[]) => [...key(field, 2), ...varint(payload.length), ...payload];
const varintField = (field: number, value: number) => [...key(field, 0), ...varint(value)];
const utf8 = (s: string) => [...Buffer.from(s, 'utf8')];
function pieceMessage(piece: string, score: number, type?: number): number[] {
  const scoreBytes = new Uint8Array(new Float32Array([score]).buffer);
  const body = [...bytesField(1, utf8(piece)), ...key(2, 5), ...scoreBytes];
  if (type !== undefined) body.push(...varintField(3, type));
  return bytesField(1, body);
}

t.test('reads the fixture spiece.model', async (t) => {
  const model = readSentencePieceModel(modelFile);
  const expected = fs
    .readFileSync(vocabFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
  t.equal(model.pieces.length, cases.tokenizer.sentencepiece_piece_size);
  t.equal(model.pieces.length, expected.length, 'one piece per spiece.vocab line');
  let mismatches = 0;
  expected.forEach(([piece, score], i) => {
    // spiece.vocab prints scores with 6 significant digits
    if (model.pieces[i] !== piece || Math.abs((model.scores[i] as number) - Number(score)) > 1e-4) mismatches++;
  });
  t.equal(mismatches, 0, 'pieces and scores agree with spiece.vocab');
  t.equal(model.unkId, cases.tokenizer.unk_id);
  t.equal(model.eosId, cases.tokenizer.eos_id);
  t.equal(model.padId, cases.tokenizer.pad_id);
  t.equal(model.bosId, -1, 'negative int32 (sign-extended varint) decodes');
  t.equal(model.types[model.unkId], 2, 'unk piece has type UNKNOWN');
  t.equal(model.types[model.eosId], 3, 'eos piece has type CONTROL');
  t.equal(model.types[3], 1, 'ordinary pieces default to NORMAL');
  t.ok(model.addDummyPrefix && model.removeExtraWhitespaces && model.escapeWhitespaces);
  t.ok(model.precompiledCharsmap.length > 4);
  const trieBytes = new DataView(model.precompiledCharsmap.buffer, model.precompiledCharsmap.byteOffset).getUint32(
    0,
    true,
  );
  t.ok(trieBytes + 4 < model.precompiledCharsmap.length, 'charsmap = trie size + trie + pool');
});

t.test('applies proto defaults and skips unknown fields', async (t) => {
  const trainer = [...varintField(3, 1), ...bytesField(99, utf8('ignored')), ...key(98, 1), 1, 2, 3, 4, 5, 6, 7, 8];
  const normalizer = [...bytesField(1, utf8('identity')), ...varintField(4, 0), ...key(77, 5), 0, 0, 0, 0];
  const file = writeTemp(
    'minimal.model',
    Uint8Array.from([
      ...pieceMessage('<unk>', 0, 2),
      ...pieceMessage('<s>', 0, 3),
      ...pieceMessage('</s>', 0, 3),
      ...pieceMessage('\u2581a', -1.5),
      ...bytesField(2, trainer),
      ...bytesField(3, normalizer),
      ...bytesField(5, [1, 2, 3]),
    ]),
  );
  const model = readSentencePieceModel(file);
  t.same(model.pieces, ['<unk>', '<s>', '</s>', '\u2581a']);
  t.same([...model.types], [2, 3, 3, 1]);
  t.equal(model.scores[3], -1.5);
  t.same([model.unkId, model.bosId, model.eosId, model.padId], [0, 1, 2, -1], 'proto defaults for ids');
  t.equal(model.removeExtraWhitespaces, false);
  t.equal(model.addDummyPrefix, true);
  t.equal(model.escapeWhitespaces, true);
  t.equal(model.precompiledCharsmap.length, 0);
});

t.test('corrupt files throw ConvertError naming the file', async (t) => {
  const original = fs.readFileSync(modelFile);
  const expectCorrupt = (name: string, bytes: Uint8Array, message: RegExp) => {
    const file = writeTemp(name, bytes);
    let caught: unknown;
    try {
      readSentencePieceModel(file);
    } catch (error) {
      caught = error;
    }
    t.type(caught, ConvertError, `${name} throws ConvertError`);
    t.equal((caught as ConvertError | undefined)?.file, file, `${name}: error names the file`);
    t.match((caught as Error | undefined)?.message, message, `${name}: ${message}`);
  };
  expectCorrupt(
    'truncated.model',
    original.subarray(0, Math.floor(original.length / 2)),
    /runs past the end|truncated/,
  );
  expectCorrupt('truncated-varint.model', Uint8Array.from([0x0a, 0x80]), /truncated varint/);
  expectCorrupt('length-beyond-end.model', Uint8Array.from([0x0a, 0xff, 0xff, 0x03, 0x0a]), /runs past the end/);
  expectCorrupt(
    'garbage.model',
    Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff),
    /corrupt|wire type/,
  );
  expectCorrupt('wrong-wire-type.model', Uint8Array.from(varintField(1, 5)), /wire type 0, expected 2/);
  expectCorrupt('empty.model', new Uint8Array(0), /no pieces/);
  expectCorrupt(
    'bpe.model',
    Uint8Array.from([...pieceMessage('<unk>', 0, 2), ...bytesField(2, varintField(3, 2))]),
    /type is BPE/,
  );
  expectCorrupt(
    'bad-unk.model',
    Uint8Array.from([...pieceMessage('<unk>', 0, 2), ...bytesField(2, varintField(40, 7))]),
    /unkId 7 is outside/,
  );
  t.throws(() => readSentencePieceModel(path.join(tmp, 'missing.model')), ConvertError);
});
