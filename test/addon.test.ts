import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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

t.test("the addon's argument errors: one integer parser, one translator to Node's error classes", async (t) => {
  // native/addon/js-args (integer_arg, is_typed_array) and promise-worker (coded_error): a wrong type is a TypeError
  // with ERR_INVALID_ARG_TYPE, a value out of range a RangeError with ERR_INVALID_ARG_VALUE, each naming the argument.
  const data = new Float32Array(64);
  for (const rowLength of [1.5, 0, -32, NaN, 2 ** 31, '64' as unknown as number]) {
    t.throws(
      () => native().quantize('q8_0', data, rowLength),
      {
        name: 'RangeError',
        code: 'ERR_INVALID_ARG_VALUE',
        message: /rowLength must be an integer in \[1, 2147483647\]/,
      },
      `rowLength ${String(rowLength)}`,
    );
  }
  t.throws(() => native().quantize('q8_0', new Float64Array(64) as unknown as Float32Array, 32), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /quantize\(type: string, data: Float32Array, rowLength: number\)/,
  });
});

t.test('a missing addon fails with every path tried and possible solutions', async (t) => {
  // A copy of the loader in a folder with no build/ or prebuilds/, pointed at an addon that doesn't exist.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-loader-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lib = path.join(dir, 'dist', 'lib');
  fs.mkdirSync(lib, { recursive: true });
  for (const file of ['native.js', 'errors.js', 'binary-target.js'])
    fs.copyFileSync(path.join(__dirname, '..', 'lib', file), path.join(lib, file));
  // Prebuilds for two platforms that are not this one: the message must name this platform and list them.
  for (const [folder, name] of [
    ['sunos-sparc', 'musicgen-native.glibc.node'],
    ['darwin-riscv64', 'musicgen-native.node'],
  ] as const) {
    fs.mkdirSync(path.join(dir, 'prebuilds', folder), { recursive: true });
    fs.writeFileSync(path.join(dir, 'prebuilds', folder, name), 'not this platform');
  }
  const missing = path.join(dir, 'nope.node');
  const script = `try { require(${JSON.stringify(path.join(lib, 'native.js'))}).native(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const out = execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, MUSICGEN_NATIVE_ADDON: missing },
    encoding: 'utf8',
  });
  const { code, message } = JSON.parse(out) as { code: string; message: string };
  t.equal(code, 'ERR_MUSICGEN_ADDON_NOT_FOUND');
  t.match(message, `${missing} (not found)`);
  t.match(message, path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`));
  t.match(message, path.join(dir, 'build', 'Release', 'musicgen.node'));
  t.match(message, /Possible solutions:[\s\S]*npm run build:native/);
  const here = `${process.platform}-${process.arch}${process.platform === 'linux' ? ' (glibc)' : ''}`;
  t.match(message, `could not load its native addon for ${here} (Node`);
  t.match(
    message,
    `No prebuilt binary fits ${here}. Prebuilt platforms in this package: darwin-riscv64, sunos-sparc (glibc).`,
  );
});
