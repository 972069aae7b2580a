// The converter's GGUF reader (a converted file used as a conversion input) against the tests' own independent
// reader: the same metadata and tensor bytes for every storage type, and a ConvertError naming the problem for a
// truncated or malformed file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { GgufReader } from '../convert/gguf-reader';
import { readGguf, tensorBytes, tensorF32 } from './helpers/gguf-reader';

const TINY = path.join(__dirname, '..', '..', 'test', 'fixtures', 'musicgen-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-gguf-reader-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const plain = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)));

for (const type of ['f32', 'f16', 'q8_0', 'q4_k'] as const) {
  t.test(`a ${type} file reads back as written`, async (t) => {
    const file = path.join(tmp, `tiny-${type}.gguf`);
    await convertCheckpoint(TINY, file, { type });
    const expected = readGguf(file);
    const reader = new GgufReader(file);
    t.teardown(() => reader.close());
    t.same([...reader.metadata.keys()], [...expected.metadata.keys()]);
    const metadataDiffers = [...expected.metadata].filter(
      ([k, v]) => JSON.stringify(plain(reader.metadata.get(k)!.value)) !== JSON.stringify(plain(v)),
    );
    t.same(metadataDiffers, [], 'every metadata value');
    t.same(
      [...reader.tensors.keys()],
      expected.tensors.map((x) => x.name),
    );
    const differs = expected.tensors
      .filter(
        (x) =>
          reader.tensors.get(x.name)!.dims.join() !== x.dims.join() ||
          !Buffer.from(reader.readRaw(x.name)).equals(tensorBytes(expected, x.name)),
      )
      .map((x) => x.name);
    t.same(differs, [], 'every tensor: dims and bytes');
    const f32Tensor = expected.tensors.find((x) => x.type === 0)!;
    t.same(reader.readFloat32(f32Tensor.name), tensorF32(expected, f32Tensor.name));
    const f16Tensor = expected.tensors.find((x) => x.type === 1);
    if (f16Tensor) {
      // f16 -> f32 is exact: the value read back, rounded to f16 again by the test's reader, is unchanged
      const back = reader.readFloat32(f16Tensor.name);
      const reference = readGguf(path.join(tmp, 'tiny-f32.gguf'));
      const original = tensorF32(reference, f16Tensor.name);
      t.ok(
        back.every((v, i) => Math.abs(v - original[i]!) <= Math.abs(original[i]!) * 2 ** -11 + 2 ** -24),
        'f16 values',
      );
    }
    const quantized = expected.tensors.find((x) => x.type !== 0 && x.type !== 1);
    t.equal(quantized !== undefined, type === 'q8_0' || type === 'q4_k');
    if (quantized)
      t.throws(() => reader.readFloat32(quantized.name), { code: 'ERR_MUSICGEN_CONVERT', message: /stored as q/ });
  });
}

t.test('a truncated or malformed file is a ConvertError naming what is wrong', async (t) => {
  const whole = fs.readFileSync(path.join(tmp, 'tiny-f32.gguf'));
  const cases: [Buffer, RegExp][] = [
    [whole.subarray(0, 3), /not a GGUF file/],
    [Buffer.concat([Buffer.from('GGML'), whole.subarray(4)]), /not a GGUF file/],
    [whole.subarray(0, 12), /truncated GGUF header \(reading tensor count/],
    [whole.subarray(0, 2000), /truncated GGUF header/],
    [whole.subarray(0, whole.length - 1), /data lies past the end of the file/],
  ];
  const version = Buffer.from(whole);
  version.writeUInt32LE(2, 4);
  cases.push([version, /version 2 is not supported/]);
  for (const [i, [bytes, message]] of cases.entries()) {
    const file = path.join(tmp, `bad-${i}.gguf`);
    fs.writeFileSync(file, bytes);
    t.throws(() => new GgufReader(file), { code: 'ERR_MUSICGEN_CONVERT', message }, String(message));
  }
  t.throws(() => new GgufReader(path.join(tmp, 'missing.gguf')), {
    code: 'ERR_MUSICGEN_CONVERT',
    message: /cannot open/,
  });
});
