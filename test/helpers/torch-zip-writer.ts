// torch.save-style archives (zip + protocol-2 pickle of a dict of contiguous float32 tensors) built in tests, for
// inputs that come as .bin files (pytorch_model.bin, adapter_model.bin).
import * as fs from 'node:fs';
import { zipArchive } from '../../tools/fuzz/seeds';

/** Pickle protocol-2 writer for exactly what torch.save emits for a state dict. */
export class PickleWriter {
  private chunks: Buffer[] = [Buffer.from([0x80, 0x02])];
  op(...bytes: number[]): this {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.chunks.push(Buffer.from('X'), len, b);
    return this;
  }
  int(n: number): this {
    const b = Buffer.alloc(5);
    b.write('J');
    b.writeInt32LE(n, 1);
    this.chunks.push(b);
    return this;
  }
  global(module: string, name: string): this {
    this.chunks.push(Buffer.from(`c${module}\n${name}\n`));
    return this;
  }
  tuple(values: number[]): this {
    this.op(0x28);
    for (const v of values) this.int(v);
    return this.op(0x74);
  }
  bytes(): Buffer {
    return Buffer.concat([...this.chunks, Buffer.from('.')]);
  }
}

/** Writes `tensors` (float32, row-major) as torch.save would: archive/data.pkl + one storage per tensor. */
export function writeTorchZip(file: string, tensors: Map<string, { shape: number[]; data: Buffer }>): void {
  const p = new PickleWriter().op(0x7d, 0x28); // EMPTY_DICT, MARK
  const entries: Array<[string, Buffer]> = [];
  let key = 0;
  for (const [name, x] of tensors) {
    const stride = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const storage = String(key++);
    entries.push([`archive/data/${storage}`, x.data]);
    p.str(name).global('torch._utils', '_rebuild_tensor_v2').op(0x28); // MARK (args)
    p.op(0x28)
      .str('storage')
      .global('torch', 'FloatStorage')
      .str(storage)
      .str('cpu')
      .int(x.data.length / 4);
    p.op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0).tuple(x.shape).tuple(stride).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52);
    p.op(0x74, 0x52); // TUPLE, REDUCE
  }
  fs.writeFileSync(file, zipArchive([['archive/data.pkl', p.op(0x75).bytes()], ...entries], false));
}
