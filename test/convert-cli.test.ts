import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'convert', 'cli.js');
const TINY = path.join(ROOT, 'test', 'fixtures', 'musicgen-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-convert-cli-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

t.test('--help prints usage and exits 0', async (t) => {
  const r = run('--help');
  t.equal(r.status, 0);
  t.match(r.stdout, /^Usage: musicgen-convert <hf-dir> -o <model\.gguf>/);
});

t.test('usage errors exit 2', async (t) => {
  for (const args of [[], [TINY], [TINY, '-o', 'x.gguf', '--type', 'q9'], [TINY, '-o', 'x.gguf', '--bogus']]) {
    const r = run(...args);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, /^musicgen-convert: .+\n\nUsage:/);
  }
});

t.test('conversion errors are one line and exit 1', async (t) => {
  const out = path.join(tmp, 'bad.gguf');
  const r = run(path.join(tmp, 'missing'), '-o', out);
  t.equal(r.status, 1);
  t.match(r.stderr, /^musicgen-convert: error: .*missing.*config\.json: cannot read \(file not found\)\n$/);
  t.notOk(fs.existsSync(out));
});

t.test('converts quietly when not on a TTY', async (t) => {
  const out = path.join(tmp, 'tiny.gguf');
  const r = run(path.join(TINY, 'bin'), '-o', out, '--type', 'q8_0');
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout + r.stderr, '');
  t.equal(fs.readFileSync(out).toString('latin1', 0, 4), 'GGUF');
});
