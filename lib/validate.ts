// One-line option checks with sharp-style messages: "Expected integer between 1 and 2048 for topK but
// received 0 of type number". Every public option goes through these before reaching native code.
import { MusicGenError } from './errors';

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}' of type string`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value) && 'length' in value) {
    return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object';
    }
    const keys = Object.keys(value);
    if (keys.length === 0) return 'an empty object';
    return `an object with keys ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}`;
  }
  return `${String(value)} of type ${typeof value}`;
}

export function invalid(name: string, expected: string, value: unknown): MusicGenError {
  return new MusicGenError(
    'ERR_MUSICGEN_INVALID_OPTION',
    `Expected ${expected} for ${name} but received ${describe(value)}`,
  );
}

export function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, `integer between ${min} and ${max}`, value);
  }
  return value;
}

export function numberIn(
  name: string,
  value: unknown,
  min: number,
  max: number,
  opts: { minExclusive?: boolean } = {},
) {
  const tooLow = opts.minExclusive ? (value as number) <= min : (value as number) < min;
  if (typeof value !== 'number' || !Number.isFinite(value) || tooLow || value > max) {
    // No upper bound worth printing when max is the largest double (not "at most 1.7976931348623157e+308").
    const unbounded = max === Number.MAX_VALUE;
    const upper = unbounded ? ' (no upper limit)' : opts.minExclusive ? ` and at most ${max}` : ` and ${max}`;
    const expected = `finite number ${opts.minExclusive ? 'greater than' : unbounded ? 'of at least' : 'between'} ${min}${upper}`;
    throw invalid(name, expected, value);
  }
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function plainObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(name, 'an object', value);
  return value as Record<string, unknown>;
}

export function string(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(name, 'a string', value);
  return value;
}

/** One prompt or a non-empty array of prompts, as a list; names the first bad entry (holes included). */
export function promptList(prompts: unknown): string[] {
  const list = typeof prompts === 'string' ? [prompts] : prompts;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid('prompts', 'a string or a non-empty array of strings', prompts);
  }
  // A plain loop, not every(): holes in a sparse array must be reported too.
  for (let i = 0; i < list.length; i++) {
    const name = typeof prompts === 'string' ? 'prompts' : `prompts[${i}]`;
    const entry: unknown = list[i];
    if (typeof entry !== 'string') throw invalid(name, 'a string', entry);
    // '' and whitespace give T5 nothing but its EOS token: almost certainly a bug in the caller (an empty CLI
    // argument, an unfilled template), so it is refused rather than turned into near-unconditional music.
    if (entry.trim() === '') throw invalid(name, 'a prompt with some text (not empty or only whitespace)', entry);
  }
  return list as string[];
}
