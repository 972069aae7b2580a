// The CLIs with Hugging Face repo ids, against the stand-in hub: `musicgen-convert owner/name -o x.gguf
// [--revision R]` and `musicgen "prompt" -m owner/name [--type T]` (converted once into MUSICGEN_CACHE, then reused).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { repoFolderName } from '../convert/hub/cache';
import { HubServer } from './helpers/hub-server';

const ROOT = path.join(__dirname, '..', '..');
const CONVERT = path.join(ROOT, 'dist', 'convert', 'cli.js');
const MUSICGEN = path.join(ROOT, 'dist', 'lib', 'cli.js');
const TINY = path.join(ROOT, 'test', 'fixtures', 'musicgen-tiny');
const REPO = 'test-org/musicgen-tiny';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-hub-cli-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// The repo: the fixture's top-level files (the conversion needs no more).
const repoDir = path.join(tmp, 'repo');
fs.mkdirSync(repoDir);
for (const entry of fs.readdirSync(TINY, { withFileTypes: true })) {
  if (entry.isFile()) fs.copyFileSync(path.join(TINY, entry.name), path.join(repoDir, entry.name));
}
const server = new HubServer({ [REPO]: { dir: repoDir, revisions: ['main', 'v1.0'] } });
t.before(() => server.start());
t.teardown(() => server.close());

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

// Asynchronous: the server answers from this process's event loop while the child runs.
function run(cli: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HF_ENDPOINT: server.url,
    HF_HOME: path.join(tmp, 'hf-home'),
    HF_TOKEN: '',
    ...env,
  };
  delete childEnv.HF_HUB_CACHE;
  delete childEnv.HF_HUB_OFFLINE;
  Object.assign(childEnv, env);
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: tmp, env: childEnv, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

const fileRequests = (from: number) =>
  server.requests.slice(from).filter((r) => r.method === 'GET' && /\/(resolve|lfs)\//.test(r.path));

t.test('musicgen-convert owner/name -o x.gguf --revision R: same bytes as the local folder', async (t) => {
  const local = path.join(tmp, 'local-q8.gguf');
  await convertCheckpoint(TINY, local, { type: 'q8_0' });
  const out = path.join(tmp, 'hub-q8.gguf');
  const cache = path.join(tmp, 'hub-cache');
  const r = await run(CONVERT, [REPO, '-o', out, '--type', 'q8_0', '--revision', 'v1.0', '--json'], {
    HF_HUB_CACHE: cache,
  });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '', 'quiet when not on a TTY');
  t.equal(JSON.parse(r.stdout).output, out);
  t.ok(fs.readFileSync(out).equals(fs.readFileSync(local)));
  const commit = server.commit(REPO);
  t.equal(fs.readFileSync(path.join(cache, repoFolderName(REPO), 'refs', 'v1.0'), 'utf8'), commit);

  const offline = path.join(tmp, 'offline.gguf');
  const before = server.requests.length;
  const r2 = await run(CONVERT, [REPO, '-o', offline, '--type', 'q8_0', '--revision', 'v1.0'], {
    HF_HUB_CACHE: cache,
    HF_HUB_OFFLINE: '1',
  });
  t.equal(r2.status, 0, r2.stderr);
  t.equal(server.requests.length, before, 'HF_HUB_OFFLINE=1: no request');
  t.ok(fs.readFileSync(offline).equals(fs.readFileSync(local)));
});

t.test('musicgen-convert: hub failures are one line, exit 1, no output', async (t) => {
  const out = path.join(tmp, 'fail.gguf');
  const cache = path.join(tmp, 'fail-cache');
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['test-org/no-such-repo'], {}, /^musicgen-convert: error: test-org\/no-such-repo: repository not found.*\n$/],
    [
      [REPO, '--revision', 'nope'],
      {},
      /^musicgen-convert: error: test-org\/musicgen-tiny: revision 'nope': revision not found/,
    ],
    [
      [REPO],
      { HF_HUB_OFFLINE: '1' },
      /^musicgen-convert: error: test-org\/musicgen-tiny: offline mode \(HF_HUB_OFFLINE\): revision 'main' is not in the cache/,
    ],
  ];
  for (const [args, env, message] of cases) {
    const r = await run(CONVERT, [...args, '-o', out], { HF_HUB_CACHE: cache, ...env });
    t.equal(r.status, 1, args.join(' '));
    t.match(r.stderr, message);
    t.notOk(fs.existsSync(out));
  }
  const usage = await run(CONVERT, [TINY, '-o', out, '--revision', 'main']);
  t.equal(usage.status, 2, '--revision with a local folder is a usage error');
  t.match(usage.stderr, /^musicgen-convert: --revision applies only to a Hugging Face repo id/);
  const json = await run(CONVERT, ['test-org/no-such-repo', '-o', out, '--json'], { HF_HUB_CACHE: cache });
  t.same(Object.keys(JSON.parse(json.stdout).error), ['code', 'message']);
  t.equal(JSON.parse(json.stdout).error.code, 'ERR_MUSICGEN_CONVERT');
});

t.test('musicgen -m owner/name converts once into MUSICGEN_CACHE, then reuses it', async (t) => {
  const env = { HF_HUB_CACHE: path.join(tmp, 'gen-hub-cache'), MUSICGEN_CACHE: path.join(tmp, 'musicgen-cache') };
  const args = ['lofi beat', '-m', REPO, '-d', '0.2', '--seed', '3', '--json'];
  const before = server.requests.length;
  const r1 = await run(MUSICGEN, [...args, '-o', 'a.wav'], env);
  t.equal(r1.status, 0, r1.stderr);
  const expected = path.join(env.MUSICGEN_CACHE, repoFolderName(REPO), server.commit(REPO), 'f16.gguf');
  t.equal(JSON.parse(r1.stdout).model, expected, 'f16 by default, keyed by commit');
  t.ok(fileRequests(before).length > 0, 'the first run downloads');
  const mtime = fs.statSync(expected).mtimeMs;

  const middle = server.requests.length;
  const r2 = await run(MUSICGEN, [...args, '-o', 'b.wav'], env);
  t.equal(r2.status, 0, r2.stderr);
  t.equal(JSON.parse(r2.stdout).model, expected);
  t.equal(fs.statSync(expected).mtimeMs, mtime, 'the GGUF is reused, not rewritten');
  t.same(fileRequests(middle), [], 'nothing downloaded again');
  t.ok(fs.readFileSync(path.join(tmp, 'a.wav')).equals(fs.readFileSync(path.join(tmp, 'b.wav'))), 'same audio');

  const r3 = await run(MUSICGEN, [...args, '-o', 'c.wav', '--type', 'q8_0'], env);
  t.equal(r3.status, 0, r3.stderr);
  t.equal(JSON.parse(r3.stdout).model, path.join(path.dirname(expected), 'q8_0.gguf'), '--type chooses the format');

  const usage = await run(MUSICGEN, ['lofi beat', '--type', 'q8_0'], env);
  t.equal(usage.status, 2, '--type without a repo id is a usage error');
  t.match(usage.stderr, /--type and --revision apply only when -m names a Hugging Face repo id/);
  const bad = await run(MUSICGEN, ['lofi beat', '-m', REPO, '--type', 'q9'], env);
  t.equal(bad.status, 2);
});
