// lib/ imports go one way (issue 12 item 4): this walks the import, export-from, dynamic import and require
// statements of every lib/**/*.ts (type-only ones included, since a type cycle still ties two modules together) and
// fails on any cycle, printing every cycle found.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import ts from 'typescript';

const root = path.join(__dirname, '..', '..');
const lib = path.join(root, 'lib');

/**
 * Cycles tolerated for now, keyed by the cycle as the test prints it ('lib/a.ts -> lib/b.ts -> lib/a.ts', starting at
 * the alphabetically first module), each with a comment saying what removes it. Empty: lib/native.ts <->
 * lib/encode-text.ts went with the native.ts split and lib/generate.ts <-> lib/long-form.ts with the one-pipeline
 * rewrite (issue 12 items 2 and 4). An entry no longer found fails the test, so the list only shrinks.
 */
const ALLOWED_CYCLES: ReadonlyMap<string, string> = new Map<string, string>([]);

function libFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

const rel = (file: string) => path.relative(root, file).split(path.sep).join('/');

// './x' -> lib/x.ts or lib/x/index.ts; imports of packages and node: modules are not edges.
function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier.replace(/\.js$/, ''));
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${rel(from)}: cannot resolve '${specifier}'`);
}

/** lib module -> the lib modules it imports (TypeScript's own scanner: import type, export from, import()...). */
export function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const scanned = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = scanned.importedFiles.map((f) => resolve(file, f.fileName)).filter((f) => f !== undefined);
    graph.set(rel(file), [...new Set(targets.map(rel))].sort());
  }
  return graph;
}

/** Every elementary cycle of the graph, each rotated to start at its smallest module; sorted. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const nodes = [...graph.keys()].sort();
  // Johnson-style: cycles through `start` using only nodes >= start, so each cycle is found once.
  for (const start of nodes) {
    const stack: string[] = [];
    const onStack = new Set<string>();
    const visit = (node: string) => {
      stack.push(node);
      onStack.add(node);
      for (const next of graph.get(node) ?? []) {
        if (next === start) {
          const cycle = [...stack];
          cycles.set(cycle.join(' -> '), cycle);
        } else if (next > start && !onStack.has(next)) {
          visit(next);
        }
      }
      stack.pop();
      onStack.delete(node);
    };
    visit(start);
  }
  return [...cycles.values()].sort((a, b) => a.join().localeCompare(b.join()));
}

t.test('findCycles finds each cycle once, type-only edges counted', async (t) => {
  const graph = new Map([
    ['a', ['b']],
    ['b', ['a', 'c']],
    ['c', ['b', 'c']],
  ]);
  t.same(findCycles(graph), [['a', 'b'], ['b', 'c'], ['c']]);
  t.same(
    findCycles(
      new Map([
        ['a', ['b']],
        ['b', []],
      ]),
    ),
    [],
  );
  const file = path.join(lib, 'index.ts');
  t.ok(importGraph([file]).get('lib/index.ts')?.includes('lib/musicgen.ts'), 'export-from statements are edges');
});

t.test('lib/ has no import cycles (type-only imports included)', async (t) => {
  const graph = importGraph(libFiles(lib));
  t.ok(graph.size > 10, `${graph.size} lib modules read`);
  const found = findCycles(graph).map((cycle) => [...cycle, cycle[0]].join(' -> '));
  const unexpected = found.filter((cycle) => !ALLOWED_CYCLES.has(cycle));
  t.same(unexpected, [], `import cycles in lib/:\n  ${unexpected.join('\n  ')}`);
  const gone = [...ALLOWED_CYCLES.keys()].filter((cycle) => !found.includes(cycle));
  t.same(gone, [], 'ALLOWED_CYCLES entries no longer found: delete them');
});
