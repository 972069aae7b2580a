// A minimal unpickler for torch.save state dicts that executes nothing. It interprets only the opcodes a state
// dict uses, resolves GLOBAL only against a fixed allow-list, and turns the few allowed callables into inert
// records (storage references, tensor views, dicts). Anything else is a ConvertError naming the opcode or global.
import { ConvertError } from '../lib/errors';

export type StorageDType = 'F32' | 'F16' | 'BF16';

export interface TorchStorageRef {
  kind: 'storage';
  dtype: StorageDType;
  /** Name of the storage's entry under `<archive>/data/`. */
  key: string;
  numel: number;
}

export interface TorchTensorRef {
  kind: 'tensor';
  storage: TorchStorageRef;
  /** In elements. */
  offset: number;
  shape: number[];
  stride: number[];
}

class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A pickled tuple (kept apart from lists so torch's argument tuples can be told from data). */
export class Tuple {
  constructor(readonly items: PickleValue[]) {}
}

const MARK = Symbol('mark');

/** What the unpickler builds: plain data, dicts as Maps, and inert torch storage/tensor records. */
export type PickleValue = Value;

type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Value[]
  | Tuple
  | Map<Value, Value>
  | Global
  | TorchStorageRef
  | TorchTensorRef;

const STORAGE_TYPES: Record<string, StorageDType> = {
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
};

const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
]);

const OPCODE_NAMES: Record<number, string> = {
  0x80: 'PROTO',
  0x95: 'FRAME',
  0x2e: 'STOP',
  0x7d: 'EMPTY_DICT',
  0x29: 'EMPTY_TUPLE',
  0x5d: 'EMPTY_LIST',
  0x28: 'MARK',
  0x58: 'BINUNICODE',
  0x8c: 'SHORT_BINUNICODE',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4d: 'BININT2',
  0x8a: 'LONG1',
  0x4e: 'NONE',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x74: 'TUPLE',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x94: 'MEMOIZE',
  0x68: 'BINGET',
  0x6a: 'LONG_BINGET',
  0x73: 'SETITEM',
  0x75: 'SETITEMS',
  0x61: 'APPEND',
  0x65: 'APPENDS',
  0x51: 'BINPERSID',
  0x52: 'REDUCE',
  0x62: 'BUILD',
  0x63: 'GLOBAL',
  0x93: 'STACK_GLOBAL',
};

/** Parses a torch state-dict pickle into `name -> tensor view`; entries that are not tensors are skipped. */
export function loadTorchStateDict(data: Uint8Array, file: string): Map<string, TorchTensorRef> {
  return stateDictOf(loadPickle(data, file), file);
}

/** The whole pickle as inert values (nested dicts, strings, tensors): for containers such as audiocraft's exports. */
export function loadPickle(data: Uint8Array, file: string): PickleValue {
  return new Unpickler(data, file).run();
}

/** `name -> tensor view` of a dict; non-tensor entries are skipped. */
export function stateDictOf(root: PickleValue, file: string, what = 'the pickle'): Map<string, TorchTensorRef> {
  if (!(root instanceof Map)) throw new ConvertError(`${what} does not hold a state dict (a dict of tensors)`, file);
  const tensors = new Map<string, TorchTensorRef>();
  for (const [key, value] of root) {
    if (typeof key === 'string' && isTensor(value)) tensors.set(key, value);
  }
  return tensors;
}

export function isTensor(v: PickleValue): v is TorchTensorRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kind' in v && v.kind === 'tensor';
}

class Unpickler {
  private pos = 0;
  private stack: (Value | typeof MARK)[] = [];
  private readonly memo = new Map<number, Value>();
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private fail(message: string): never {
    throw new ConvertError(`pickle ${message}`, this.file);
  }

  private take(n: number): number {
    if (this.pos + n > this.data.length) this.fail(`is truncated at byte ${this.pos}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.view.getUint8(this.take(1));
  }
  private u16(): number {
    return this.view.getUint16(this.take(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.take(4), true);
  }
  private utf8(n: number): string {
    const at = this.take(n);
    return Buffer.from(this.data.buffer, this.data.byteOffset + at, n).toString('utf8');
  }
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`is truncated at byte ${this.pos}`);
    const s = Buffer.from(this.data.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return s;
  }

  private pop(): Value {
    const v = this.stack.pop();
    if (v === undefined || v === MARK) this.fail(`is malformed: stack underflow at byte ${this.pos}`);
    return v;
  }
  private top(): Value {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) this.fail(`is malformed: stack underflow at byte ${this.pos}`);
    return v;
  }
  private popMark(): Value[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) this.fail(`is malformed: no MARK before byte ${this.pos}`);
    const items = this.stack.splice(at) as Value[];
    items.shift();
    return items;
  }
  private memoGet(index: number): Value {
    const v = this.memo.get(index);
    if (v === undefined) this.fail(`refers to memo entry ${index}, which was never stored`);
    return v;
  }

  run(): Value {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80:
          this.u8();
          break; // PROTO
        case 0x95:
          this.take(8);
          break; // FRAME: framing is irrelevant when the whole pickle is in memory
        case 0x2e:
          return this.pop(); // STOP
        case 0x7d:
          this.stack.push(new Map());
          break;
        case 0x29:
          this.stack.push(new Tuple([]));
          break;
        case 0x5d:
          this.stack.push([]);
          break;
        case 0x28:
          this.stack.push(MARK);
          break;
        case 0x58:
          this.stack.push(this.utf8(this.u32()));
          break;
        case 0x8c:
          this.stack.push(this.utf8(this.u8()));
          break;
        case 0x4a:
          this.stack.push(this.view.getInt32(this.take(4), true));
          break;
        case 0x4b:
          this.stack.push(this.u8());
          break;
        case 0x4d:
          this.stack.push(this.u16());
          break;
        case 0x8a:
          this.stack.push(this.long1());
          break;
        case 0x4e:
          this.stack.push(null);
          break;
        case 0x88:
          this.stack.push(true);
          break;
        case 0x89:
          this.stack.push(false);
          break;
        case 0x74:
          this.stack.push(new Tuple(this.popMark()));
          break;
        case 0x85:
          this.stack.push(new Tuple([this.pop()]));
          break;
        case 0x86: {
          const b = this.pop();
          const a = this.pop();
          this.stack.push(new Tuple([a, b]));
          break;
        }
        case 0x87: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.stack.push(new Tuple([a, b, c]));
          break;
        }
        case 0x71:
          this.memo.set(this.u8(), this.top());
          break;
        case 0x72:
          this.memo.set(this.u32(), this.top());
          break;
        case 0x94:
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x68:
          this.stack.push(this.memoGet(this.u8()));
          break;
        case 0x6a:
          this.stack.push(this.memoGet(this.u32()));
          break;
        case 0x73: {
          const v = this.pop();
          const k = this.pop();
          this.dictOf(this.top()).set(k, v);
          break;
        }
        case 0x75: {
          const items = this.popMark();
          if (items.length % 2) this.fail(`is malformed: odd SETITEMS at byte ${at}`);
          const dict = this.dictOf(this.top());
          for (let i = 0; i < items.length; i += 2) dict.set(items[i]!, items[i + 1]!);
          break;
        }
        case 0x61: {
          const v = this.pop();
          this.listOf(this.top()).push(v);
          break;
        }
        case 0x65: {
          const items = this.popMark();
          const list = this.listOf(this.top());
          for (const item of items) list.push(item); // not push(...items): a long run would overflow the call stack
          break;
        }
        case 0x51:
          this.stack.push(this.persistentLoad(this.pop()));
          break;
        case 0x52: {
          const args = this.pop();
          const fn = this.pop();
          this.stack.push(this.reduce(fn, args));
          break;
        }
        case 0x62:
          this.pop();
          break; // BUILD: state (e.g. an OrderedDict's _metadata) is dropped, never applied
        case 0x63: {
          const module = this.line();
          const name = this.line();
          this.stack.push(this.resolve(module, name));
          break;
        }
        case 0x93: {
          const name = this.pop();
          const module = this.pop();
          this.stack.push(this.resolveStack(module, name));
          break;
        }
        default:
          this.fail(
            `uses opcode ${OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`} at byte ${at}, which a torch state dict does not need; refusing to load it`,
          );
      }
    }
  }

  private long1(): number | bigint {
    const n = this.u8();
    const at = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.data[at + i]!);
    if (n > 0 && this.data[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private dictOf(v: Value): Map<Value, Value> {
    if (!(v instanceof Map)) this.fail(`is malformed: SETITEM(S) on a non-dict at byte ${this.pos}`);
    return v;
  }
  private listOf(v: Value): Value[] {
    if (!Array.isArray(v)) this.fail(`is malformed: APPEND(S) on a non-list at byte ${this.pos}`);
    return v;
  }

  private resolveStack(module: Value, name: Value): Global {
    if (typeof module !== 'string' || typeof name !== 'string')
      this.fail('is malformed: STACK_GLOBAL needs two strings');
    return this.resolve(module, name);
  }

  private resolve(module: string, name: string): Global {
    const g = new Global(module, name);
    if (!CALLABLES.has(g.path) && !(g.path in STORAGE_TYPES)) {
      this.fail(
        `references global '${module} ${name}', which is not allowed in a torch state dict; refusing to load it (nothing was executed)`,
      );
    }
    return g;
  }

  private persistentLoad(pid: Value): TorchStorageRef {
    const items = pid instanceof Tuple ? pid.items : [];
    const [tag, type, key, , numel] = items;
    if (
      items.length !== 5 ||
      tag !== 'storage' ||
      !(type instanceof Global) ||
      typeof key !== 'string' ||
      typeof numel !== 'number'
    ) {
      this.fail(`has a persistent id that is not a torch storage reference at byte ${this.pos}`);
    }
    const dtype = STORAGE_TYPES[type.path];
    if (!dtype)
      this.fail(`has storage type '${type.path}'; only FloatStorage, HalfStorage and BFloat16Storage are supported`);
    if (!/^[0-9A-Za-z_]+$/.test(key)) this.fail(`has an invalid storage key '${key}'`);
    return { kind: 'storage', dtype, key, numel };
  }

  private reduce(fn: Value, args: Value): Value {
    if (!(fn instanceof Global) || !CALLABLES.has(fn.path))
      this.fail(`REDUCE on something that is not an allowed callable at byte ${this.pos}`);
    if (!(args instanceof Tuple)) this.fail(`REDUCE of '${fn.path}' without an argument tuple`);
    const a = args.items;
    switch (fn.path) {
      case 'collections.OrderedDict':
        if (a.length !== 0) this.fail('OrderedDict with constructor arguments');
        return new Map();
      case 'torch._utils._rebuild_parameter':
        if (!isTensor(a[0] ?? null)) this.fail('_rebuild_parameter of something that is not a tensor');
        return a[0]!;
      default: {
        const [storage, offset, size, stride] = a;
        const ints = (v: Value | undefined): number[] | undefined =>
          v instanceof Tuple && v.items.every((x) => typeof x === 'number' && x >= 0)
            ? (v.items as number[])
            : undefined;
        const shape = ints(size);
        const strides = ints(stride);
        if (
          typeof storage !== 'object' ||
          storage === null ||
          !('kind' in storage) ||
          storage.kind !== 'storage' ||
          typeof offset !== 'number' ||
          offset < 0 ||
          !shape ||
          !strides ||
          shape.length !== strides.length
        ) {
          this.fail('_rebuild_tensor_v2 with arguments that do not describe a tensor view');
        }
        return { kind: 'tensor', storage, offset, shape, stride: strides };
      }
    }
  }
}
