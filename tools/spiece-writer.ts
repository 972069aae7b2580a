/**
 * Writes a synthetic SentencePiece model (the `spiece.model` of a T5 tokenizer): a protobuf `ModelProto` with a
 * unigram vocabulary laid out like T5's (`<pad>` 0, `</s>` 1, `<unk>` 2, no bos), the trainer spec's ids and
 * the nmt_nfkc normalizer spec. The pieces are made up (ASCII characters, then U+2581-prefixed words and
 * suffixes) but give ordinary English prompts a plausible segmentation.
 */

// sentencepiece_model.proto field numbers and enum values used below.
const MODEL_PIECES = 1;
const MODEL_TRAINER_SPEC = 2;
const MODEL_NORMALIZER_SPEC = 3;
const PIECE_TEXT = 1;
const PIECE_SCORE = 2;
const PIECE_TYPE = 3;
const TYPE_UNKNOWN = 2;
const TYPE_CONTROL = 3;
const UNIGRAM = 1;

const SPACE = '\u2581';
const SPECIAL_PIECES: readonly [string, number][] = [
  ['<pad>', TYPE_CONTROL],
  ['</s>', TYPE_CONTROL],
  ['<unk>', TYPE_UNKNOWN],
];

/** Minimal protobuf wire-format encoder (proto2, fields written in the order given). */
class ProtoWriter {
  private readonly parts: Buffer[] = [];

  varint(field: number, value: number): this {
    this.parts.push(encodeVarint(field * 8 + 0), encodeVarint(value));
    return this;
  }

  float(field: number, value: number): this {
    const bytes = Buffer.alloc(4);
    bytes.writeFloatLE(value);
    this.parts.push(encodeVarint(field * 8 + 5), bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.parts.push(encodeVarint(field * 8 + 2), encodeVarint(value.length), Buffer.from(value));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  message(field: number, message: ProtoWriter): this {
    return this.bytes(field, message.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Base-128 varint; negative int32 values take 10 bytes (their 64-bit two's complement), as protobuf requires. */
function encodeVarint(value: number): Buffer {
  if (!Number.isSafeInteger(value)) throw new Error(`protobuf: ${value} is not an integer`);
  let rest = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return Buffer.from(bytes);
}

export interface SpieceOptions {
  /** Total number of pieces including `<pad>`, `</s>`, `<unk>` (t5-base: 32000). */
  pieces: number;
  /** nmt_nfkc normalisation table to embed (see readPrecompiledCharsmap); without it text is not normalised. */
  precompiledCharsmap?: Uint8Array;
}

export function spieceModel({ pieces, precompiledCharsmap }: SpieceOptions): Buffer {
  const model = new ProtoWriter();
  for (const [text, type] of SPECIAL_PIECES) {
    model.message(
      MODEL_PIECES,
      new ProtoWriter().string(PIECE_TEXT, text).float(PIECE_SCORE, 0).varint(PIECE_TYPE, type),
    );
  }
  const vocabulary = syntheticPieces(pieces - SPECIAL_PIECES.length);
  vocabulary.forEach((text, rank) => {
    // Log-probability-like scores, strictly decreasing with rank (fixture range: about -3 to -14).
    const score = -3 - Math.log1p(rank);
    model.message(MODEL_PIECES, new ProtoWriter().string(PIECE_TEXT, text).float(PIECE_SCORE, score));
  });
  model.message(MODEL_TRAINER_SPEC, trainerSpec(pieces));
  model.message(MODEL_NORMALIZER_SPEC, normalizerSpec(precompiledCharsmap));
  return model.finish();
}

/** The trainer settings T5's spiece.model records: unigram, pad 0 / eos 1 / unk 2, no bos. */
function trainerSpec(vocabSize: number): ProtoWriter {
  return new ProtoWriter()
    .varint(3, UNIGRAM) // model_type
    .varint(4, vocabSize) // vocab_size
    .varint(20, 16) // max_sentencepiece_length
    .varint(21, 1) // split_by_unicode_script
    .varint(22, 1) // split_by_whitespace
    .varint(23, 1) // split_by_number
    .varint(32, 1) // vocabulary_output_piece_score
    .varint(33, 1) // hard_vocab_limit
    .varint(35, 0) // byte_fallback
    .varint(40, 2) // unk_id
    .varint(41, -1) // bos_id (none)
    .varint(42, 1) // eos_id
    .varint(43, 0) // pad_id
    .string(44, ' \u2047 ') // unk_surface
    .string(45, '<unk>') // unk_piece
    .string(46, '<s>') // bos_piece
    .string(47, '</s>') // eos_piece
    .string(48, '<pad>'); // pad_piece
}

function normalizerSpec(precompiledCharsmap: Uint8Array | undefined): ProtoWriter {
  const spec = new ProtoWriter().string(1, 'nmt_nfkc'); // name
  if (precompiledCharsmap) spec.bytes(2, precompiledCharsmap); // precompiled_charsmap
  return spec
    .varint(3, 1) // add_dummy_prefix
    .varint(4, 1) // remove_extra_whitespaces
    .varint(5, 1); // escape_whitespaces
}

// Common words of music prompts first, so typical prompts tokenize into whole words.
const PROMPT_WORDS = (
  'the a and of with in to for music song beat beats drum drums bass guitar piano synth melody rhythm ' +
  'jazz rock pop electronic ambient classical orchestral lofi hip hop funk soul blues house techno dance ' +
  'happy sad calm epic chill upbeat energetic slow fast soft loud dark bright warm acoustic electric ' +
  'violin cello strings brass flute saxophone trumpet vocals choir 80s 90s retro modern cinematic ' +
  'track tune loop groove vibe tempo bpm instrumental background heavy light deep catchy solo'
).split(' ');
const PREFIXES = 'b c d f g h j k l m n p r s t v w z br ch cr dr fl gr pl sh st th tr'.split(' ');
const VOWELS = 'a e i o u ai ea ee oo ou'.split(' ');
const CODAS = ['', 'n', 'r', 's', 't', 'l', 'm', 'ng', 'ck', 'st'];

/**
 * `count` distinct pieces, most useful first: U+2581 and every printable ASCII character (so any ASCII text
 * can be segmented), prompt words, then generated syllable words, alternately with and without the U+2581
 * word-start marker (the latter act as word continuations).
 */
function syntheticPieces(count: number): string[] {
  const pieces = new Set<string>([SPACE]);
  for (let c = 0x21; c <= 0x7e; c++) pieces.add(String.fromCharCode(c));
  for (const word of PROMPT_WORDS) pieces.add(SPACE + word);
  const syllables = PREFIXES.flatMap((p) => VOWELS.flatMap((v) => CODAS.map((c) => p + v + c)));
  for (let n = 0; pieces.size < count; n++) {
    const word = syllableWord(n, syllables);
    pieces.add(SPACE + word);
    if (pieces.size < count) pieces.add(word);
  }
  return [...pieces].slice(0, count);
}

/** The n-th word in bijective base-|syllables| numbering: 1 syllable, then 2, then 3... */
function syllableWord(n: number, syllables: readonly string[]): string {
  let word = '';
  let rest = n + 1;
  while (rest > 0) {
    rest -= 1;
    word = (syllables[rest % syllables.length] as string) + word;
    rest = Math.floor(rest / syllables.length);
  }
  return word;
}

/** The normalizer's precompiled_charsmap bytes of an existing spiece.model, if it has one. */
export function readPrecompiledCharsmap(model: Uint8Array): Uint8Array | undefined {
  const normalizer = findField(model, MODEL_NORMALIZER_SPEC);
  return normalizer ? findField(normalizer, 2) : undefined;
}

/** The last length-delimited occurrence of `field` in a protobuf message (protobuf's last-one-wins rule). */
function findField(message: Uint8Array, field: number): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  let pos = 0;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= message.length) throw new Error('spiece.model: truncated protobuf varint');
      const byte = message[pos++] as number;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) return value;
    }
  };
  while (pos < message.length) {
    const key = readVarint();
    const wireType = key % 8;
    if (wireType === 0) readVarint();
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = readVarint();
      if (pos + length > message.length) throw new Error('spiece.model: protobuf field runs past the end');
      if (Math.floor(key / 8) === field) found = message.subarray(pos, pos + length);
      pos += length;
    } else throw new Error(`spiece.model: unsupported protobuf wire type ${wireType}`);
  }
  return found;
}
