import t from 'tap';
import { native } from '../lib/native';

t.test('addon loads and reports the pinned ggml version', async (t) => {
  t.equal(native().ggmlVersion, '0.15.1');
});

t.test('quantize produces ggml block sizes and rejects bad rows', async (t) => {
  const data = new Float32Array(128).map((_, i) => Math.sin(i));
  t.equal(native().quantize('q8_0', data, 64).length, (128 / 32) * 34);
  t.equal(native().quantize('f16', data, 64).length, 256);
  t.throws(() => native().quantize('q8_0', data, 48), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => native().quantize('q9_9', data, 64), /unknown type 'q9_9'/);
});
