import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { readSentencePieceModel, type SentencePieceModel } from '../convert/sentencepiece';
import { nativeDiagnostics, type NativeTokenizer, type NativeTokenizerVocab } from '../lib/native-diagnostics';
import { readNpy } from './helpers/npy';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');

interface Cases {
  tokenizer: { extra_ids: number };
  cases: { category: string; text: string; input_ids: number[] }[];
  hf_special_token_cases: { cases: { text: string; hf_input_ids: number[] }[] };
  batch: { texts: string[]; unpadded_input_ids: number[][] };
}
const cases = JSON.parse(fs.readFileSync(path.join(fixtures, 'tokenizer', 'cases.json'), 'utf8')) as Cases;

function vocabOf(model: SentencePieceModel, extraIds: number): NativeTokenizerVocab {
  return {
    pieces: model.pieces,
    scores: model.scores,
    types: model.types,
    charsmap: model.precompiledCharsmap,
    addDummyPrefix: model.addDummyPrefix,
    removeExtraWhitespaces: model.removeExtraWhitespaces,
    escapeWhitespaces: model.escapeWhitespaces,
    eosId: model.eosId,
    unkId: model.unkId,
    padId: model.padId,
    extraIds,
  };
}

const model = readSentencePieceModel(path.join(fixtures, 'tokenizer', 'spiece.model'));
const vocab = vocabOf(model, cases.tokenizer.extra_ids);
const tokenizer: NativeTokenizer = nativeDiagnostics().createTokenizer(vocab);
const encode = (text: string | Uint8Array) => [...tokenizer.encode(text)];
// TAP names must stay on one line: escape everything outside printable ASCII (U+2028 would end the line).
const label = (text: string) =>
  JSON.stringify(text.slice(0, 60)).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

t.test('every case of cases.json matches T5Tokenizer exactly', async (t) => {
  t.ok(cases.cases.length >= 60);
  for (const c of cases.cases) {
    t.same(encode(c.text), c.input_ids, `${c.category}: ${label(c.text)}`);
  }
});

t.test("HF's special-token splitting", async (t) => {
  for (const c of cases.hf_special_token_cases.cases) {
    t.same(encode(c.text), c.hf_input_ids, label(c.text));
  }
  const size = model.pieces.length;
  const extra = cases.tokenizer.extra_ids;
  t.same(encode(`<extra_id_${extra - 1}>`), [size, model.eosId], 'last extra id is the first id after the pieces');
  t.same(encode('<extra_id_0>'), [size + extra - 1, model.eosId]);
  t.ok(
    encode(`<extra_id_${extra}>`).every((id) => id < size),
    'N >= extra_ids is plain text',
  );
  t.ok(
    encode('<extra_id_01>').every((id) => id < size),
    'leading zeros are plain text',
  );
  t.same(encode('a\u3000\t<extra_id_0>\n b'), [...encode('a').slice(0, -1), size + extra - 1, ...encode('b')]);
  t.same(encode('</s></s>'), [model.eosId, model.eosId], 'only a missing final eos is appended');
  t.same(encode('</s>  '), [model.eosId], 'whitespace after a final </s> encodes to nothing');
  t.same(encode('<pad><unk>'), [model.padId, model.unkId, model.eosId]);
});

t.test('batch prompts and the per-model goldens', async (t) => {
  cases.batch.texts.forEach((text, i) => t.same(encode(text), cases.batch.unpadded_input_ids[i], text));
  for (const name of ['musicgen-tiny', 'musicgen-melody-tiny', 'musicgen-stereo-tiny']) {
    const dir = path.join(fixtures, name);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      notes: { prompts?: string[] };
    };
    const prompts = manifest.notes.prompts;
    if (!prompts) continue;
    const own = nativeDiagnostics().createTokenizer(
      vocabOf(readSentencePieceModel(path.join(dir, 'spiece.model')), 100),
    );
    const ids = readNpy(path.join(dir, 'goldens', 'text_input_ids.npy'));
    const mask = readNpy(path.join(dir, 'goldens', 'text_attention_mask.npy'));
    const width = ids.shape[1] as number;
    prompts.forEach((prompt, row) => {
      const golden = Array.from(ids.data).slice(row * width, (row + 1) * width);
      const goldenMask = Array.from(mask.data).slice(row * width, (row + 1) * width);
      const got = [...own.encode(prompt)];
      t.same(golden.slice(0, got.length), got, `${name}: ${prompt}`);
      // right padding with pad id 0 and mask 0 after the real tokens
      t.ok(
        golden.slice(got.length).every((id) => id === 0),
        `${name}: padding ids`,
      );
      t.same(
        goldenMask,
        golden.map((_, i) => (i < got.length ? 1 : 0)),
        `${name}: attention mask`,
      );
    });
  }
});

t.test('arbitrary input never crashes', async (t) => {
  const bytes = Uint8Array.from({ length: 2048 }, (_, i) => (i * 131 + 7) & 0xff);
  const ids = encode(bytes);
  t.ok(ids.length > 0 && ids.every((id) => id >= 0 && id < model.pieces.length), 'invalid UTF-8 bytes encode');
  // SentencePiece turns each malformed byte into U+FFFD (not in the vocabulary), so the run is one unk
  const badBytes = encode(Uint8Array.from([0x61, 0xff, 0xfe, 0xc3]));
  t.same(badBytes.slice(-2), [model.unkId, model.eosId], 'malformed bytes become one unk');
  t.same(badBytes.slice(0, -2), encode('a').slice(0, -1));
  t.same(encode(new TextEncoder().encode('lofi hip hop')), encode('lofi hip hop'), 'bytes and strings agree');
  t.ok(encode('\ud800 lone surrogate').length > 1);
  const long = 'ab c\u2603 '.repeat(2000).slice(0, 10000);
  t.equal(long.length, 10000);
  const longIds = encode(long);
  t.ok(longIds.length > 1000 && longIds.at(-1) === model.eosId, '10 000 characters encode, not truncated');
  t.equal(encode('\u0000\u0001 \u007f').at(-1), model.eosId, 'control characters encode');
});

t.test('createTokenizer validates its input', async (t) => {
  const create = (patch: Partial<Record<keyof NativeTokenizerVocab, unknown>>) => () =>
    nativeDiagnostics().createTokenizer({ ...vocab, ...patch } as NativeTokenizerVocab);
  t.throws(create({ pieces: 'abc' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /vocab.pieces/ });
  t.throws(create({ scores: new Float64Array(model.pieces.length) }), { name: 'TypeError', message: /scores/ });
  t.throws(create({ eosId: 1.5 }), { name: 'TypeError', message: /eosId/ });
  t.throws(create({ addDummyPrefix: 1 }), { name: 'TypeError', message: /addDummyPrefix/ });
  t.throws(create({ extraIds: undefined }), { message: /extraIds/ });
  t.throws(create({ types: new Int32Array(3) }), { code: 'ERR_MUSICGEN_MODEL_INVALID', message: /types/ });
  t.throws(create({ unkId: model.pieces.length }), { code: 'ERR_MUSICGEN_MODEL_INVALID', message: /unk id/ });
  t.throws(create({ unkId: model.eosId }), { code: 'ERR_MUSICGEN_MODEL_INVALID', message: /not 2 \(unknown\)/ });
  const duplicated = [...model.pieces];
  duplicated[4] = duplicated[5] as string;
  t.throws(create({ pieces: duplicated }), { code: 'ERR_MUSICGEN_MODEL_INVALID', message: /defined twice/ });
  t.throws(() => (tokenizer.encode as (x: unknown) => unknown)(42), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test('corrupt charsmaps are rejected or fail cleanly, never read out of bounds', async (t) => {
  const charsmap = model.precompiledCharsmap;
  const withCharsmap = (bytes: Uint8Array) => nativeDiagnostics().createTokenizer({ ...vocab, charsmap: bytes });
  t.throws(() => withCharsmap(charsmap.subarray(0, 3)), { code: 'ERR_MUSICGEN_MODEL_INVALID', message: /charsmap/ });
  const hugeTrie = Uint8Array.from(charsmap);
  new DataView(hugeTrie.buffer).setUint32(0, charsmap.length, true);
  t.throws(() => withCharsmap(hugeTrie), { code: 'ERR_MUSICGEN_MODEL_INVALID', message: /trie size/ });
  t.throws(() => withCharsmap(charsmap.subarray(0, charsmap.length - 1)), { message: /NUL-terminated/ });

  // Scrambled trie units: lookups either fail with a model error or produce valid ids.
  const trieBytes = new DataView(charsmap.buffer, charsmap.byteOffset).getUint32(0, true);
  const scrambled = Uint8Array.from(charsmap);
  for (let i = 4; i < 4 + trieBytes; i += 7) scrambled[i] = (scrambled[i] as number) ^ 0x5a;
  const broken = withCharsmap(scrambled);
  let clean = 0;
  for (const c of cases.cases) {
    try {
      const ids = [...broken.encode(c.text)];
      if (ids.every((id) => id >= 0 && id < model.pieces.length)) clean++;
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_MUSICGEN_MODEL_INVALID') clean++;
    }
  }
  t.equal(clean, cases.cases.length, 'every case ends in valid ids or ERR_MUSICGEN_MODEL_INVALID');

  const identity = withCharsmap(new Uint8Array(0));
  t.same([...identity.encode('lofi hip hop')], encode('lofi hip hop'), 'an empty charsmap is the identity');
});
