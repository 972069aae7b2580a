// pytorch_model.bin handling: archives built here (deflate, strided views) convert like the safetensors weights,
// and pickles that try to call anything outside the allow-list are refused without executing it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { readGguf } from './helpers/gguf-reader';
import { zipArchive } from '../tools/fuzz/seeds';
import { copyConfigs, f32, readSafetensors } from './helpers/safetensors-writer';
import { PickleWriter } from './helpers/torch-zip-writer';

const TINY = path.join(__dirname, '..', '..', 'test', 'fixtures', 'musicgen-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-convert-pickle-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A zip archive (stored or deflated) written to `file`, by the same writer the fuzz seeds use. */
function writeZip(file: string, entries: Array<[string, Buffer]>, deflate: boolean): void {
  fs.writeFileSync(file, zipArchive(entries, deflate));
}

interface StoredTensor {
  name: string;
  key: string;
  numel: number;
  shape: number[];
  stride: number[];
}

function stateDictPickle(tensors: StoredTensor[]): Buffer {
  const p = new PickleWriter().op(0x7d, 0x28); // EMPTY_DICT, MARK
  for (const x of tensors) {
    p.str(x.name).global('torch._utils', '_rebuild_tensor_v2').op(0x28); // MARK (args)
    p.op(0x28).str('storage').global('torch', 'FloatStorage').str(x.key).str('cpu').int(x.numel).op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0).tuple(x.shape).tuple(x.stride).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52); // NEWFALSE, (), REDUCE
    p.op(0x74, 0x52); // TUPLE, REDUCE
  }
  return p.op(0x75).bytes(); // SETITEMS
}

t.test('deflated archive with transposed (strided) storages converts like model.safetensors', async (t) => {
  const dir = path.join(tmp, 'deflated');
  copyConfigs(TINY, dir);
  const source = readSafetensors(path.join(TINY, 'model.safetensors'));
  const entries: Array<[string, Buffer]> = [];
  const stored: StoredTensor[] = [];
  let transposed = 0;
  for (const [name, x] of source) {
    const key = String(stored.length);
    let data = Buffer.from(x.data);
    let stride = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    if (x.shape.length === 2) {
      // Store the transpose and describe the tensor as a strided view of it (like saving `w.t().contiguous().t()`).
      const [rows, cols] = x.shape as [number, number];
      const values = f32(x);
      const t2 = new Float32Array(values.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t2[c * rows + r] = values[r * cols + c]!;
      data = Buffer.from(t2.buffer);
      stride = [1, rows];
      transposed++;
    }
    entries.push([`archive/data/${key}`, data]);
    stored.push({ name, key, numel: data.length / 4, shape: x.shape, stride });
  }
  t.ok(transposed > 50, 'most matrices are strided views');
  writeZip(path.join(dir, 'pytorch_model.bin'), [['archive/data.pkl', stateDictPickle(stored)], ...entries], true);

  const fromBin = path.join(tmp, 'deflated.gguf');
  const fromSafetensors = path.join(tmp, 'safetensors.gguf');
  await convertCheckpoint(dir, fromBin, { type: 'f32', tokenizerDir: TINY });
  await convertCheckpoint(TINY, fromSafetensors, { type: 'f32' });
  const a = readGguf(fromBin);
  const b = readGguf(fromSafetensors);
  t.ok(a.buffer.subarray(a.dataOffset).equals(b.buffer.subarray(b.dataOffset)), 'identical tensor bytes');
});

async function expectRefused(t: Test, pickle: Buffer, message: RegExp): Promise<void> {
  const dir = fs.mkdtempSync(path.join(tmp, 'evil-'));
  copyConfigs(TINY, dir);
  writeZip(path.join(dir, 'pytorch_model.bin'), [['archive/data.pkl', pickle]], false);
  const outDir = fs.mkdtempSync(path.join(tmp, 'out-'));
  await t.rejects(convertCheckpoint(dir, path.join(outDir, 'model.gguf'), { tokenizerDir: TINY }), {
    name: 'ConvertError',
    message,
  });
  t.same(fs.readdirSync(outDir), [], 'no output file and no temp file');
}

t.test("GLOBAL 'os system' is refused and never executed", async (t) => {
  const marker = path.join(tmp, 'pwned');
  // os.system(f"touch {marker}") as pickle: GLOBAL, argument tuple, REDUCE.
  const payload = new PickleWriter().global('os', 'system').op(0x28).str(`touch ${marker}`).op(0x74, 0x52).bytes();
  await expectRefused(t, payload, /pytorch_model\.bin: pickle references global 'os system', which is not allowed/);
  t.notOk(fs.existsSync(marker), 'the payload did not run');
});

t.test('STACK_GLOBAL builtins eval is refused', async (t) => {
  // Protocol-4 style: SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'eval', STACK_GLOBAL.
  const payload = Buffer.from([
    0x80,
    0x04,
    0x8c,
    8,
    ...Buffer.from('builtins'),
    0x8c,
    4,
    ...Buffer.from('eval'),
    0x93,
    0x2e,
  ]);
  await expectRefused(t, payload, /global 'builtins eval', which is not allowed/);
});

t.test('unknown opcode is refused by name', async (t) => {
  // INST (opcode 'i') instantiates a class by name; a state dict never needs it.
  const payload = Buffer.concat([Buffer.from([0x80, 0x02, 0x28]), Buffer.from('ios\nsystem\n'), Buffer.from('.')]);
  await expectRefused(t, payload, /pickle uses opcode 0x69 at byte 3/);
});

t.test('tensor view beyond its storage is refused', async (t) => {
  const pickle = stateDictPickle([{ name: 'enc_to_dec_proj.bias', key: '0', numel: 48, shape: [48], stride: [2] }]);
  const dir = fs.mkdtempSync(path.join(tmp, 'view-'));
  copyConfigs(TINY, dir);
  writeZip(
    path.join(dir, 'pytorch_model.bin'),
    [
      ['archive/data.pkl', pickle],
      ['archive/data/0', Buffer.alloc(192)],
    ],
    false,
  );
  await t.rejects(convertCheckpoint(dir, path.join(tmp, 'view.gguf'), { tokenizerDir: TINY }), {
    name: 'ConvertError',
    message:
      /tensor 'enc_to_dec_proj\.bias' \(offset 0, shape \[48\], stride \[2\]\) exceeds its storage of 48 elements/,
  });
});
