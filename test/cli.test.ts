// The CLIs as a user meets them: `musicgen "prompt"` with no model uses the bundled smoke-test model and says so,
// --json prints one parseable object (result or error), a TTY gets a progress bar with speed figures and a
// pipe gets nothing; the smoke-test model itself is rebuilt byte for byte by its tool.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { WaveFile } from 'wavefile';
import { convertCheckpoint } from '../convert/convert';
import { defaultModelLocation, defaultModelPath } from '../lib/default-model';
import { MusicGen } from '../lib';
import { makeDefaultModel } from '../tools/make-default-model';

const root = path.join(__dirname, '..', '..');
const musicgenCli = path.join(root, 'dist', 'lib', 'cli.js');
const convertCli = path.join(root, 'dist', 'convert', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-cli-'));
const modelFile = path.join(tmp, 'tiny-f16.gguf');
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.before(async () => {
  // `npm ci` / `npm pack` build it (the prepare script); a bare checkout may not have it yet.
  if (!fs.existsSync(defaultModelLocation())) await makeDefaultModel();
  await convertCheckpoint(path.join(root, 'test', 'fixtures', 'musicgen-tiny'), modelFile, { type: 'f16' });
});

const run = (cli: string, args: string[], cwd = tmp) =>
  spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });

t.test('the smoke-test model is deterministic and loads as a complete model', async (t) => {
  const a = path.join(tmp, 'a.gguf');
  const b = path.join(tmp, 'b.gguf');
  await makeDefaultModel(a);
  await makeDefaultModel(b);
  t.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'two builds are byte-identical');
  t.ok(fs.statSync(a).size < 8e6, `a few MB (${(fs.statSync(a).size / 1e6).toFixed(1)} MB)`);
  const gen = await MusicGen.load(a, { backend: 'cpu', threads: 1 });
  t.equal(gen.info.name, 'musicgen-smoke-test');
  t.equal(gen.info.sampleRate, 32000);
  gen.dispose();
  t.equal(defaultModelPath(), defaultModelLocation());
});

t.test('musicgen without -m uses the smoke-test model and says so; --json is one object', async (t) => {
  const r = run(musicgenCli, ['lofi beat', '-d', '1', '--seed', '1', '--json']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /bundled smoke-test model \(random weights; it makes noise, not music\)/);
  t.match(r.stderr, /convert facebook\/musicgen-small/);
  const result = JSON.parse(r.stdout) as Record<string, unknown>;
  t.match(result, {
    output: path.join(fs.realpathSync(tmp), 'out.wav'),
    seconds: 1,
    sampleRate: 32000,
    channels: 1,
    bitDepth: '16',
    model: defaultModelLocation(),
    smokeTestModel: true,
    backend: String,
    elapsedSeconds: Number,
    realTimeFactor: Number,
  });
  t.equal(r.stdout.trim().split('\n').length, 1, 'exactly one line on stdout');
  const wav = new WaveFile(fs.readFileSync(path.join(tmp, 'out.wav')));
  t.equal((wav.getSamples(false, Float64Array) as unknown as Float64Array).length, 32000);
});

t.test('--json reports errors as JSON on stdout with the error code', async (t) => {
  const r = run(musicgenCli, ['x', '-m', path.join(tmp, 'missing.gguf'), '--json']);
  t.equal(r.status, 1);
  const { error } = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  t.equal(error.code, 'ERR_MUSICGEN_MODEL_NOT_FOUND');
  t.match(error.message, 'missing.gguf');
  const c = run(convertCli, [path.join(tmp, 'nowhere'), '-o', path.join(tmp, 'x.gguf'), '--json']);
  t.equal(c.status, 1);
  t.match(JSON.parse(c.stdout), { error: { code: 'ERR_MUSICGEN_CONVERT', message: /config\.json/ } });
});

t.test('musicgen-convert --json describes the file it wrote', async (t) => {
  const out = path.join(tmp, 'json.gguf');
  const r = run(convertCli, [
    path.join(root, 'test', 'fixtures', 'musicgen-tiny'),
    '-o',
    out,
    '--type',
    'q8_0',
    '--json',
  ]);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '', 'nothing on stderr');
  t.match(JSON.parse(r.stdout), {
    output: out,
    type: 'q8_0',
    tensors: Number,
    bytes: fs.statSync(out).size,
    seconds: Number,
  });
});

t.test('progress bars: steps, audio seconds and speed on a TTY; silence in a pipe', async (t) => {
  const args = ['lofi beat', '-m', modelFile, '-d', '1', '--seed', '2'];
  const piped = run(musicgenCli, [...args, '-o', path.join(tmp, 'piped.wav')]);
  t.equal(piped.status, 0);
  t.equal(piped.stdout + piped.stderr, '', 'a pipe gets no output at all');

  // util-linux `script` gives the CLI a pseudo-terminal, as an interactive shell would.
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, musicgenCli, ...args, '-o', path.join(tmp, 'tty.wav')].map(quote).join(' ');
  for (const extra of ['', ' --stream']) {
    const tty = spawnSync('script', ['-qec', command + extra, '/dev/null'], { cwd: tmp, encoding: 'utf8' });
    t.equal(tty.status, 0, tty.stdout);
    // "generating [######      ] 26/53 steps 4.2/s | 0.5 s audio, 0.08x real time" / "streaming [...] 0.4/1 s | 0.17x real time"
    const counts = extra ? String.raw`[\d.]+/1 s \|` : String.raw`\d+/\d+ steps [\d.]+/s \| [\d.]+ s audio,`;
    t.match(tty.stdout, new RegExp(String.raw`\] ${counts} [\d.]+x real time`));
    t.match(tty.stdout, /wrote .*tty\.wav: 1\.00 s, 1 channel\(s\), 32000 Hz in [\d.]+ s \([\d.]+x real time\)/);
  }
});
