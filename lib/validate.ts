// One-line option checks with sharp-style messages: "Expected integer between 1 and 2048 for topK but
// received 0 of type number". Every public option goes through these before reaching native code.
import { MusicGenError } from './errors';

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}' of type string`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
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
    throw invalid(
      name,
      `finite number ${opts.minExclusive ? 'greater than' : 'between'} ${min}${opts.minExclusive ? ` and at most ${max}` : ` and ${max}`}`,
      value,
    );
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
    if (typeof list[i] !== 'string') throw invalid(`prompts[${i}]`, 'a string', list[i]);
  }
  return list as string[];
}
