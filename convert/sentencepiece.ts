// Reads a SentencePiece `spiece.model` (a protobuf ModelProto) with a small wire-format reader, keeping only
// what the unigram tokenizer needs. Field numbers follow sentencepiece_model.proto:
//   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece   1 piece, 2 score (float), 3 type (enum, default NORMAL = 1)
//   TrainerSpec     3 model_type (UNIGRAM = 1), 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
//   NormalizerSpec  2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces
import * as fs from 'node:fs';
import { ConvertError } from '../lib/errors';

export interface SentencePieceModel {
  pieces: string[];
  scores: Float32Array;
  types: Int32Array;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const MODEL_TYPE_UNIGRAM = 1;
const MODEL_TYPE_NAMES = ['?', 'UNIGRAM', 'BPE', 'WORD', 'CHAR'];
const PIECE_TYPE_NORMAL = 1;
const PIECE_TYPE_MAX = 6; // BYTE

interface Field {
  number: number;
  wireType: number;
  /** low 32 bits of a varint (proto int32/enum/bool semantics), or the raw bits of a fixed32 */
  value: number;
  /** payload of a length-delimited field, or the 4 bytes of a fixed32 */
  bytes: Uint8Array;
}

/** Iterates over the fields of one protobuf message, validating every length against the buffer. */
class MessageReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly file: string,
    private readonly message: string,
  ) {}

  private fail(what: string): never {
    throw new ConvertError(`corrupt SentencePiece model (${this.message}, byte ${this.pos}): ${what}`, this.file);
  }

  /** A varint's low 32 bits as a signed number (negative int32 values arrive sign-extended to 10 bytes). */
  private varint(): number {
    return this.varintParts().low | 0;
  }

  /** A varint used as a key or length: must be a non-negative value below 2^31. */
  private smallVarint(what: string): number {
    const { low, high } = this.varintParts();
    if (high || low < 0) this.fail(`${what} is too large`);
    return low;
  }

  private varintParts(): { low: number; high: boolean } {
    let low = 0;
    let high = false; // any payload bit at position 32 or above
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const byte = this.buf[this.pos++] as number;
      if (i < 5) low |= (byte & 0x7f) << (7 * i);
      if (i === 4 && (byte & 0x70) !== 0) high = true;
      if (i > 4 && (byte & 0x7f) !== 0) high = true;
      if ((byte & 0x80) === 0) return { low, high };
    }
    this.fail('varint longer than 10 bytes');
  }

  private take(length: number): Uint8Array {
    if (length > this.buf.length - this.pos) {
      this.fail(`field length ${length} runs past the end (${this.buf.length - this.pos} bytes left)`);
    }
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  next(): Field | undefined {
    if (this.pos >= this.buf.length) return undefined;
    const key = this.smallVarint('field key');
    const number = key >>> 3;
    const wireType = key & 7;
    if (number === 0) this.fail('field number 0');
    switch (wireType) {
      case WIRE_VARINT:
        return { number, wireType, value: this.varint(), bytes: new Uint8Array(0) };
      case WIRE_FIXED64:
        return { number, wireType, value: 0, bytes: this.take(8) };
      case WIRE_BYTES: {
        const length = this.smallVarint('field length');
        return { number, wireType, value: 0, bytes: this.take(length) };
      }
      case WIRE_FIXED32: {
        const bytes = this.take(4);
        return { number, wireType, value: new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true), bytes };
      }
      default:
        this.fail(`unsupported wire type ${wireType} for field ${number}`);
    }
  }

  /** Throws unless `field` has the wire type its schema declares. */
  expect(field: Field, wireType: number, name: string): void {
    if (field.wireType !== wireType) {
      this.fail(`${name} (field ${field.number}) has wire type ${field.wireType}, expected ${wireType}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeString(bytes: Uint8Array, file: string, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ConvertError(`corrupt SentencePiece model: ${what} is not valid UTF-8`, file);
  }
}

interface Piece {
  piece: string;
  score: number;
  type: number;
}

function readPiece(bytes: Uint8Array, file: string, index: number): Piece {
  const message = `piece ${index}`;
  const reader = new MessageReader(bytes, file, message);
  const piece: Piece = { piece: '', score: 0, type: PIECE_TYPE_NORMAL };
  for (let f = reader.next(); f; f = reader.next()) {
    if (f.number === 1) {
      reader.expect(f, WIRE_BYTES, 'piece');
      piece.piece = decodeString(f.bytes, file, message);
    } else if (f.number === 2) {
      reader.expect(f, WIRE_FIXED32, 'score');
      piece.score = new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
    } else if (f.number === 3) {
      reader.expect(f, WIRE_VARINT, 'type');
      piece.type = f.value;
    }
  }
  if (piece.type < 1 || piece.type > PIECE_TYPE_MAX) {
    throw new ConvertError(`corrupt SentencePiece model: ${message} has unknown type ${piece.type}`, file);
  }
  return piece;
}

/** Reads `spiece.model`; throws ConvertError naming the file when it is corrupt or not a unigram model. */
export function readSentencePieceModel(file: string): SentencePieceModel {
  let buf: Uint8Array;
  try {
    buf = fs.readFileSync(file);
  } catch (error) {
    throw new ConvertError(`cannot read SentencePiece model: ${(error as Error).message}`, file, { cause: error });
  }

  const pieces: Piece[] = [];
  let trainerSpec: Uint8Array | undefined;
  let normalizerSpec: Uint8Array | undefined;
  const model = new MessageReader(buf, file, 'ModelProto');
  for (let f = model.next(); f; f = model.next()) {
    if (f.number === 1) {
      model.expect(f, WIRE_BYTES, 'pieces');
      pieces.push(readPiece(f.bytes, file, pieces.length));
    } else if (f.number === 2) {
      model.expect(f, WIRE_BYTES, 'trainer_spec');
      trainerSpec = f.bytes;
    } else if (f.number === 3) {
      model.expect(f, WIRE_BYTES, 'normalizer_spec');
      normalizerSpec = f.bytes;
    }
  }
  if (pieces.length === 0) throw new ConvertError('corrupt SentencePiece model: it has no pieces', file);

  // Proto2 defaults apply to fields the file leaves out.
  const result: SentencePieceModel = {
    pieces: pieces.map((p) => p.piece),
    scores: Float32Array.from(pieces, (p) => p.score),
    types: Int32Array.from(pieces, (p) => p.type),
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
  };

  let modelType = MODEL_TYPE_UNIGRAM;
  if (trainerSpec) {
    const reader = new MessageReader(trainerSpec, file, 'trainer_spec');
    const ids: Record<number, 'unkId' | 'bosId' | 'eosId' | 'padId'> = {
      40: 'unkId',
      41: 'bosId',
      42: 'eosId',
      43: 'padId',
    };
    for (let f = reader.next(); f; f = reader.next()) {
      const idName = ids[f.number];
      if (f.number === 3) {
        reader.expect(f, WIRE_VARINT, 'model_type');
        modelType = f.value;
      } else if (idName) {
        reader.expect(f, WIRE_VARINT, idName);
        result[idName] = f.value;
      }
    }
  }
  if (modelType !== MODEL_TYPE_UNIGRAM) {
    const name = MODEL_TYPE_NAMES[modelType] ?? String(modelType);
    throw new ConvertError(`SentencePiece model type is ${name}; only UNIGRAM (T5) models are supported`, file);
  }

  if (normalizerSpec) {
    const reader = new MessageReader(normalizerSpec, file, 'normalizer_spec');
    const flags: Record<number, 'addDummyPrefix' | 'removeExtraWhitespaces' | 'escapeWhitespaces'> = {
      3: 'addDummyPrefix',
      4: 'removeExtraWhitespaces',
      5: 'escapeWhitespaces',
    };
    for (let f = reader.next(); f; f = reader.next()) {
      const flagName = flags[f.number];
      if (f.number === 2) {
        reader.expect(f, WIRE_BYTES, 'precompiled_charsmap');
        result.precompiledCharsmap = Uint8Array.from(f.bytes);
      } else if (flagName) {
        reader.expect(f, WIRE_VARINT, flagName);
        result[flagName] = f.value !== 0;
      }
    }
  }

  for (const name of ['unkId', 'bosId', 'eosId', 'padId'] as const) {
    const id = result[name];
    if (id < -1 || id >= pieces.length) {
      throw new ConvertError(`corrupt SentencePiece model: ${name} ${id} is outside 0..${pieces.length - 1}`, file);
    }
  }
  if (result.unkId < 0) throw new ConvertError('corrupt SentencePiece model: it defines no unknown piece', file);
  return result;
}
