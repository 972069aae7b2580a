// Access to one reference fixture folder (test/fixtures/<name>): its goldens and the manifest that records
// the exact Hugging Face call behind each one, so tests read prompts and settings instead of hard-coding them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy, type NpyArray } from './npy';

export const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');

export interface Fixture {
  dir: string;
  /** The manifest's description of an array (the call that produced it); throws when absent. */
  describe(name: string): string;
  golden(name: string): NpyArray;
  /** The text prompts of the processor call behind `text_input_ids`. */
  prompts: string[];
}

// Python repr of the processor's text list, e.g. text=['a', "b's"].
export function promptsOf(description: string): string[] {
  const list = /text=\[(.*?)\]/.exec(description)?.[1];
  if (list === undefined) throw new Error(`no prompts in: ${description}`);
  return [...list.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'),
  );
}

/** The number captured by `pattern` (one group) in a manifest description. */
export function numberIn(description: string, pattern: RegExp): number {
  const value = pattern.exec(description)?.[1];
  if (value === undefined) throw new Error(`${pattern} not found in: ${description}`);
  return Number(value);
}

export function fixture(name: string): Fixture {
  const dir = path.join(FIXTURES, name);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    arrays: Array<{ name: string; description: string }>;
  };
  const describe = (array: string) => {
    const entry = manifest.arrays.find((a) => a.name === array);
    if (!entry) throw new Error(`${name} manifest has no ${array}`);
    return entry.description;
  };
  return {
    dir,
    describe,
    golden: (g) => readNpy(path.join(dir, 'goldens', `${g}.npy`)),
    prompts: promptsOf(describe('text_input_ids')),
  };
}
