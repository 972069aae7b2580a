// toFloat32 (convert/tensor-source.ts): exact f16 / bf16 / f32 decoding, through the aligned typed-array path and the
// unaligned DataView path alike.
import t from 'tap';
import { toFloat32 } from '../convert/tensor-source';

/** The same bytes at an odd offset, so toFloat32 must take its unaligned path. */
function unaligned(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length + 1);
  copy.set(bytes, 1);
  return copy.subarray(1);
}

t.test('f16 bit patterns decode to their exact values', async (t) => {
  const cases: Array<[number, number]> = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x3555, 0.333251953125],
    [0x8000, -0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  const bytes = new Uint8Array(new Uint16Array([...cases.map(([h]) => h), 0x7e00]).buffer);
  for (const input of [bytes, unaligned(bytes)]) {
    const out = toFloat32(input, 'F16', cases.length + 1);
    cases.forEach(([h, v], i) => t.ok(Object.is(out[i], v), `0x${h.toString(16)} -> ${v}`));
    t.ok(Number.isNaN(out[cases.length]), '0x7e00 -> NaN');
  }
});

t.test('every f16 pattern decodes the same through both paths; bf16 and f32 too', async (t) => {
  const all = new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, h) => h)).buffer);
  const a = toFloat32(all, 'F16', 65536);
  const b = toFloat32(unaligned(all), 'F16', 65536);
  t.same(new Uint32Array(a.buffer), new Uint32Array(b.buffer), 'f16: identical bits');
  const bf = toFloat32(all, 'BF16', 65536);
  t.equal(bf[0x3f80], 1, 'bf16 0x3f80 -> 1');
  t.same(
    new Uint32Array(bf.buffer),
    new Uint32Array(toFloat32(unaligned(all), 'BF16', 65536).buffer),
    'bf16: identical bits',
  );
  const f32 = new Float32Array([1.5, -0, 3.4e38, 1e-45, -7.25]);
  const f32Bytes = new Uint8Array(f32.buffer);
  t.same(toFloat32(f32Bytes, 'F32', 5), f32, 'f32 aligned');
  t.same(toFloat32(unaligned(f32Bytes), 'F32', 5), f32, 'f32 unaligned');
});
