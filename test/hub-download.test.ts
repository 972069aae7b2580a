// Hub downloads against our stand-in server (test/helpers/hub-server.ts): the HF cache layout, only the needed
// files, resume with Range after a dropped connection, sha256 verification, offline mode, and every failure typed
// with no partial GGUF and no snapshot link to a missing or unverified blob.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { repoFolderName } from '../convert/hub/cache';
import { downloadCheckpoint, resolveCheckpointDir, type HubOptions } from '../convert/hub/resolve';
import { HubError, MusicGenError } from '../lib/errors';
import { HubServer } from './helpers/hub-server';
import { resolveSpec } from '../tools/presets';
import { writeRandomCheckpoint } from '../tools/random-checkpoint';

const ROOT = path.join(__dirname, '..', '..');
const TINY = path.join(ROOT, 'test', 'fixtures', 'musicgen-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-hub-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// What conversion reads (docs/converter.md), as far as the fixture has it; everything else is a decoy.
const NEEDED = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'spiece.model',
  'tokenizer_config.json',
  'model.safetensors',
].filter((f) => fs.existsSync(path.join(TINY, f)));

/** A repo folder: the fixture's top-level files plus files a hub repo also holds that conversion must not fetch. */
function makeRepo(name: string, extra: Record<string, string | Buffer> = {}): string {
  const dir = path.join(tmp, 'repos', name);
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of fs.readdirSync(TINY, { withFileTypes: true })) {
    if (entry.isFile()) fs.copyFileSync(path.join(TINY, entry.name), path.join(dir, entry.name));
  }
  const decoys: Record<string, string | Buffer> = {
    'README.md': '# decoy\n',
    '.gitattributes': '*.safetensors filter=lfs\n',
    'tokenizer.json': '{}',
    'pytorch_model.bin': Buffer.alloc(1000, 1),
    'state_dict.bin': Buffer.alloc(1000, 2),
    'compression_state_dict.bin': Buffer.alloc(100, 3),
    ...extra,
  };
  for (const [file, data] of Object.entries(decoys)) fs.writeFileSync(path.join(dir, file), data);
  return dir;
}

const tinyRepo = makeRepo('tiny');
const bertDir = path.join(tmp, 'repos', 'bert');
fs.mkdirSync(bertDir, { recursive: true });
fs.writeFileSync(path.join(bertDir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
fs.copyFileSync(path.join(TINY, 'model.safetensors'), path.join(bertDir, 'model.safetensors'));
const readmeDir = path.join(tmp, 'repos', 'readme');
fs.mkdirSync(readmeDir, { recursive: true });
fs.writeFileSync(path.join(readmeDir, 'README.md'), 'nothing here');

// A sharded checkpoint (index + shards) from our random-checkpoint tool, split into at least three shards.
const shardedDir = path.join(tmp, 'repos', 'sharded');
const firstWrite = writeRandomCheckpoint({
  dir: shardedDir,
  spec: resolveSpec('tiny', []),
  dtype: 'f32',
  seed: 5,
  maxShardBytes: 5e9,
});
fs.rmSync(shardedDir, { recursive: true });
const sharded = writeRandomCheckpoint({
  dir: shardedDir,
  spec: resolveSpec('tiny', []),
  dtype: 'f32',
  seed: 5,
  maxShardBytes: Math.ceil(firstWrite.weightBytes / 3),
});
fs.writeFileSync(path.join(shardedDir, 'README.md'), 'decoy');
// The same index naming a shard the repo lacks.
const brokenDir = path.join(tmp, 'repos', 'broken-index');
fs.cpSync(shardedDir, brokenDir, { recursive: true });
const brokenShard = sharded.files.find((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f))!;
fs.rmSync(path.join(brokenDir, brokenShard));
// audiocraft's export layout only (deliverable 2 converts it; here: only its two files are fetched).
const audiocraftDir = path.join(tmp, 'repos', 'audiocraft');
fs.mkdirSync(audiocraftDir, { recursive: true });
for (const [file, size] of [
  ['state_dict.bin', 3000],
  ['compression_state_dict.bin', 300],
  ['README.md', 10],
] as const) {
  fs.writeFileSync(path.join(audiocraftDir, file), Buffer.alloc(size, 7));
}

const server = new HubServer({
  'test-org/sharded-tiny': { dir: shardedDir },
  'test-org/broken-index': { dir: brokenDir },
  'test-org/audiocraft-tiny': { dir: audiocraftDir },
  'test-org/musicgen-tiny': { dir: tinyRepo, revisions: ['main', 'v1.0'] },
  'test-org/gated-tiny': { dir: tinyRepo, token: 'hf_right' },
  'test-org/bert-tiny': { dir: bertDir },
  'test-org/readme-only': { dir: readmeDir },
});
t.before(() => server.start());
t.teardown(() => server.close());

let cacheCount = 0;
const freshCache = () => path.join(tmp, `cache-${cacheCount++}`);
const opts = (cacheDir: string, extra: HubOptions = {}): HubOptions => ({
  endpoint: server.url,
  cacheDir,
  token: false,
  ...extra,
});
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const repoRoot = (cacheDir: string, repo: string) => path.join(cacheDir, repoFolderName(repo));

/** Rejects with a HubError of this reason (and returns it). */
async function hubFailure(t: Test, promise: Promise<unknown>, reason: string): Promise<HubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, HubError, `a HubError (${reason})`);
  t.equal((error as HubError).reason, reason, (error as Error).message);
  t.equal((error as HubError).code, 'ERR_MUSICGEN_CONVERT');
  return error as HubError;
}

/** Every entry under snapshots/ resolves to a blob (no dangling link), and no .incomplete is left when `complete`. */
function checkNoBrokenLinks(t: Test, root: string): void {
  const snapshots = path.join(root, 'snapshots');
  if (!fs.existsSync(snapshots)) return;
  for (const commit of fs.readdirSync(snapshots)) {
    for (const file of fs.readdirSync(path.join(snapshots, commit))) {
      const entry = path.join(snapshots, commit, file);
      t.ok(fs.existsSync(entry), `snapshot entry ${file} resolves`);
      t.notMatch(file, /\.tmp-/, 'no temp link left');
    }
  }
}

let localGguf: Buffer;
t.before(async () => {
  const out = path.join(tmp, 'local.gguf');
  await convertCheckpoint(TINY, out, { type: 'f16' });
  localGguf = fs.readFileSync(out);
});

t.test("a repo id is fetched into the HF cache layout; converting it gives the local folder's bytes", async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  const before = server.requests.length;
  const result = await downloadCheckpoint(repo, opts(cacheDir));
  const commit = server.commit(repo);
  const root = repoRoot(cacheDir, repo);
  t.equal(result.dir, path.join(root, 'snapshots', commit));
  t.equal(result.commit, commit);
  t.equal(fs.readFileSync(path.join(root, 'refs', 'main'), 'utf8'), commit, 'refs/main holds the commit');

  const log = server.requests.slice(before);
  const touched = new Set(log.filter((r) => /\/(resolve|lfs)\//.test(r.path)).map((r) => path.basename(r.path)));
  t.same([...touched].sort(), [...NEEDED].sort(), 'only the files conversion needs were requested (HEAD or GET)');
  t.same(fs.readdirSync(result.dir).sort(), [...NEEDED].sort(), 'the snapshot holds exactly those');

  for (const file of NEEDED) {
    const entry = path.join(result.dir, file);
    const target = fs.readlinkSync(entry);
    t.match(target, /^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/, `${file} -> ../../blobs/<etag>`);
    t.equal(sha256(entry), sha256(path.join(TINY, file)), `${file} has the repo's bytes`);
  }
  // LFS blobs are named by their sha256 (X-Linked-Etag), small files by their git oid (ETag).
  const safetensorsBlob = path.basename(fs.readlinkSync(path.join(result.dir, 'model.safetensors')));
  t.equal(safetensorsBlob, sha256(path.join(TINY, 'model.safetensors')));
  const configBlob = path.basename(fs.readlinkSync(path.join(result.dir, 'config.json')));
  const config = fs.readFileSync(path.join(TINY, 'config.json'));
  t.equal(configBlob, createHash('sha1').update(`blob ${config.length}\0`).update(config).digest('hex'));
  t.same(
    fs.readdirSync(path.join(root, 'blobs')).filter((f) => f.endsWith('.incomplete')),
    [],
  );

  const out = path.join(tmp, 'hub.gguf');
  await convertCheckpoint(repo, out, { type: 'f16', hub: opts(cacheDir) });
  t.ok(fs.readFileSync(out).equals(localGguf), 'same GGUF bytes as converting the local folder');

  const again = server.requests.length;
  t.equal(await resolveCheckpointDir(repo, opts(cacheDir)), result.dir, 'a second call finds the snapshot');
  t.same(
    server.requests.slice(again).filter((r) => /\/(resolve|lfs)\//.test(r.path)),
    [],
    'and fetches no file again (only the revision / tree API)',
  );
  const tag = await downloadCheckpoint(repo, opts(cacheDir, { revision: 'v1.0' }));
  t.equal(tag.dir, result.dir, 'a tag of the same commit shares the snapshot');
  t.equal(fs.readFileSync(path.join(root, 'refs', 'v1.0'), 'utf8'), commit);
});

t.test('a local folder is returned as it is, without any request', async (t) => {
  const before = server.requests.length;
  t.equal(await resolveCheckpointDir(TINY, opts(freshCache())), TINY);
  t.equal(server.requests.length, before);
});

t.test('a connection dropped midway is resumed with a Range request in the same call', async (t) => {
  const cacheDir = freshCache();
  const size = fs.statSync(path.join(tinyRepo, 'model.safetensors')).size;
  const cut = Math.floor(size / 2);
  server.dropAfter.set('model.safetensors', cut);
  const before = server.requests.length;
  const result = await downloadCheckpoint('test-org/musicgen-tiny', opts(cacheDir));
  const ranged = server.requests.slice(before).filter((r) => r.range);
  t.same(
    ranged.map((r) => [r.path.startsWith('/lfs/') ? 'lfs' : 'resolve', path.basename(r.path), r.range]),
    [
      ['resolve', 'model.safetensors', `bytes=${cut}-`],
      ['lfs', 'model.safetensors', `bytes=${cut}-`],
    ],
    'one Range request from where the connection dropped (resolve, then its redirect target)',
  );
  const fetched = result.files.find((f) => f.file === 'model.safetensors')!;
  t.equal(fetched.rangeRequests, 1);
  t.equal(fetched.received, size, 'every byte received exactly once');
  t.equal(sha256(path.join(result.dir, 'model.safetensors')), sha256(path.join(TINY, 'model.safetensors')));
});

t.test('an interrupted call keeps the .incomplete blob; the next call continues it', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  const size = fs.statSync(path.join(tinyRepo, 'model.safetensors')).size;
  const cut = Math.floor(size / 3);
  server.dropAfter.set('model.safetensors', cut);
  const out = path.join(tmp, 'interrupted.gguf');
  await hubFailure(t, convertCheckpoint(repo, out, { hub: opts(cacheDir, { retries: 0 }) }), 'network');
  t.notOk(fs.existsSync(out), 'no GGUF written');
  t.same(
    fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')),
    [],
    'no temp GGUF left',
  );
  const root = repoRoot(cacheDir, repo);
  const blobs = fs.readdirSync(path.join(root, 'blobs'));
  const incomplete = blobs.filter((f) => f.endsWith('.incomplete'));
  t.equal(incomplete.length, 1, 'the partial blob is kept for resuming');
  t.equal(fs.statSync(path.join(root, 'blobs', incomplete[0]!)).size, cut);
  const snapshot = path.join(root, 'snapshots', server.commit(repo));
  t.notOk(fs.existsSync(path.join(snapshot, 'model.safetensors')), 'no snapshot link for the unfinished file');
  t.notOk(fs.existsSync(path.join(root, 'refs', 'main')), 'no ref to an incomplete snapshot');
  checkNoBrokenLinks(t, root);

  const before = server.requests.length;
  const result = await downloadCheckpoint(repo, opts(cacheDir));
  const gets = server.requests.slice(before).filter((r) => r.method === 'GET' && /\/(resolve|lfs)\//.test(r.path));
  t.same(
    gets.map((r) => [path.basename(r.path), r.range]),
    [
      ['model.safetensors', `bytes=${cut}-`],
      ['model.safetensors', `bytes=${cut}-`],
    ],
    'only the rest of the unfinished file is asked for (resolve, then the LFS redirect target)',
  );
  const fetched = result.files.find((f) => f.file === 'model.safetensors')!;
  t.equal(fetched.resumedFrom, cut);
  t.equal(fetched.received, size - cut, 'the rest, not the whole file');
  t.equal(sha256(path.join(result.dir, 'model.safetensors')), sha256(path.join(TINY, 'model.safetensors')), 'verified');
});

t.test('offline: served from the cache without a request; a clear error when not cached', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  await hubFailure(t, downloadCheckpoint(repo, opts(cacheDir, { offline: true })), 'offline');
  const online = await downloadCheckpoint(repo, opts(cacheDir));
  const before = server.requests.length;
  const offline = await downloadCheckpoint(repo, opts(cacheDir, { offline: true }));
  t.equal(offline.dir, online.dir);
  t.ok(offline.fromCache);
  const byCommit = await downloadCheckpoint(repo, opts(cacheDir, { revision: online.commit }));
  t.equal(byCommit.dir, online.dir, 'a cached commit hash needs no network either');
  const saved = process.env.HF_HUB_OFFLINE;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    t.equal(await resolveCheckpointDir(repo, { cacheDir, endpoint: server.url }), online.dir, 'HF_HUB_OFFLINE=1');
    const error = await hubFailure(t, downloadCheckpoint(repo, { cacheDir, revision: 'v1.0' }), 'offline');
    t.match(error.message, /v1\.0.*not in the cache/);
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
    else process.env.HF_HUB_OFFLINE = saved;
  }
  t.equal(server.requests.length, before, 'no request made offline');
  const out = path.join(tmp, 'offline.gguf');
  await convertCheckpoint(repo, out, { type: 'f16', hub: opts(cacheDir, { offline: true }) });
  t.ok(fs.readFileSync(out).equals(localGguf));
});

t.test('the hub unreachable: a complete cached snapshot is used, else a network error', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  const dead = 'http://127.0.0.1:9'; // discard port: connection refused
  await hubFailure(t, downloadCheckpoint(repo, opts(cacheDir, { endpoint: dead })), 'network');
  const online = await downloadCheckpoint(repo, opts(cacheDir));
  const fallback = await downloadCheckpoint(repo, opts(cacheDir, { endpoint: dead }));
  t.equal(fallback.dir, online.dir);
  t.ok(fallback.fromCache);
});

t.test('a checksum mismatch is a typed error: no blob, no snapshot link, no output', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  server.corrupt.add('model.safetensors');
  const out = path.join(tmp, 'corrupt.gguf');
  try {
    const error = await hubFailure(t, convertCheckpoint(repo, out, { hub: opts(cacheDir) }), 'checksum');
    t.match(error.message, /model\.safetensors: sha256 [0-9a-f]{64} does not match .*X-Linked-Etag/);
  } finally {
    server.corrupt.delete('model.safetensors');
  }
  t.notOk(fs.existsSync(out));
  const root = repoRoot(cacheDir, repo);
  const expected = sha256(path.join(TINY, 'model.safetensors'));
  t.same(
    fs.readdirSync(path.join(root, 'blobs')).filter((f) => f.startsWith(expected)),
    [],
    'nothing kept of it',
  );
  t.notOk(fs.existsSync(path.join(root, 'snapshots', server.commit(repo), 'model.safetensors')));
  checkNoBrokenLinks(t, root);
});

t.test('repo, revision or file not found', async (t) => {
  const cacheDir = freshCache();
  const e1 = await hubFailure(t, resolveCheckpointDir('test-org/no-such-repo', opts(cacheDir)), 'repo-not-found');
  t.match(e1.message, /^test-org\/no-such-repo: repository not found.*no local folder/);
  const e2 = await hubFailure(
    t,
    downloadCheckpoint('test-org/musicgen-tiny', opts(cacheDir, { revision: 'no-such-branch' })),
    'revision-not-found',
  );
  t.match(e2.message, /revision 'no-such-branch': revision not found \(HTTP 404/);
  t.notOk(fs.existsSync(path.join(cacheDir, repoFolderName('test-org/no-such-repo'))), 'nothing cached');
});

t.test('not a MusicGen repo: refused before any weight is fetched', async (t) => {
  const cacheDir = freshCache();
  const before = server.requests.length;
  const out = path.join(tmp, 'bert.gguf');
  const error = await hubFailure(
    t,
    convertCheckpoint('test-org/bert-tiny', out, { hub: opts(cacheDir) }),
    'not-musicgen',
  );
  t.match(error.message, /model_type "bert", expected musicgen or musicgen_melody/);
  t.notOk(
    server.requests.slice(before).some((r) => r.path.endsWith('model.safetensors')),
    'weights never requested',
  );
  t.notOk(fs.existsSync(out));
  const e2 = await hubFailure(t, downloadCheckpoint('test-org/readme-only', opts(cacheDir)), 'not-musicgen');
  t.match(e2.message, /it holds: README\.md/);
});

t.test('a gated repo: no token -> 401, a wrong token -> 403, the right one works', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/gated-tiny';
  const e1 = await hubFailure(t, downloadCheckpoint(repo, opts(cacheDir)), 'unauthorized');
  t.match(e1.message, /needs a token: set HF_TOKEN.*HTTP 401/);
  const e2 = await hubFailure(t, downloadCheckpoint(repo, opts(cacheDir, { token: 'hf_wrong' })), 'unauthorized');
  t.match(e2.message, /refused with the token given.*HTTP 403/);
  const saved = process.env.HF_TOKEN;
  process.env.HF_TOKEN = 'hf_right';
  const before = server.requests.length;
  try {
    const result = await downloadCheckpoint(repo, { endpoint: server.url, cacheDir });
    t.same(fs.readdirSync(result.dir).sort(), [...NEEDED].sort());
  } finally {
    if (saved === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved;
  }
  t.ok(
    server.requests.slice(before).every((r) => r.authorization === 'Bearer hf_right'),
    'HF_TOKEN sent as a bearer token',
  );
});

t.test('a write error (disk full) is a typed error; the rerun resumes', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  const realFs = require('node:fs') as typeof fs;
  const writeSync = realFs.writeSync;
  let written = 0;
  // ENOSPC once 100 kB of a download have been written (only downloads write through writeSync here).
  realFs.writeSync = ((fd: number, buffer: Buffer, ...rest: unknown[]) => {
    if (written + buffer.length > 100_000) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
    }
    written += buffer.length;
    return (writeSync as (...args: unknown[]) => number)(fd, buffer, ...rest);
  }) as typeof fs.writeSync;
  const out = path.join(tmp, 'disk-full.gguf');
  try {
    const error = await hubFailure(t, convertCheckpoint(repo, out, { hub: opts(cacheDir) }), 'disk');
    t.match(error.message, /ENOSPC writing .*\.incomplete \(\d+ of \d+ bytes written\)/);
  } finally {
    realFs.writeSync = writeSync;
  }
  t.notOk(fs.existsSync(out));
  const root = repoRoot(cacheDir, repo);
  checkNoBrokenLinks(t, root);
  t.notOk(fs.existsSync(path.join(root, 'snapshots', server.commit(repo), 'model.safetensors')));
  const result = await downloadCheckpoint(repo, opts(cacheDir));
  t.equal(sha256(path.join(result.dir, 'model.safetensors')), sha256(path.join(TINY, 'model.safetensors')));
});

t.test('HF_HUB_CACHE / HF_HOME choose the cache, HF_ENDPOINT the server', async (t) => {
  const saved = { ...process.env };
  const home = path.join(tmp, 'hf-home');
  try {
    delete process.env.HF_HUB_CACHE;
    process.env.HF_HOME = home;
    process.env.HF_ENDPOINT = `${server.url}/`;
    const dir = await resolveCheckpointDir('test-org/musicgen-tiny', { token: false });
    t.equal(path.dirname(path.dirname(dir)), path.join(home, 'hub', repoFolderName('test-org/musicgen-tiny')));
    process.env.HF_HUB_CACHE = path.join(tmp, 'hub-cache');
    const dir2 = await resolveCheckpointDir('test-org/musicgen-tiny', { token: false });
    t.ok(dir2.startsWith(path.join(tmp, 'hub-cache', repoFolderName('test-org/musicgen-tiny'))));
  } finally {
    for (const key of ['HF_HOME', 'HF_ENDPOINT', 'HF_HUB_CACHE'] as const) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
});

t.test('a sharded checkpoint: the index, then exactly the shards it names', async (t) => {
  const cacheDir = freshCache();
  const before = server.requests.length;
  const result = await downloadCheckpoint('test-org/sharded-tiny', opts(cacheDir));
  const shards = sharded.files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  t.ok(shards.length >= 3, `${shards.length} shards`);
  const expected = sharded.files.filter((f) => f !== 'special_tokens_map.json' && f !== 'tokenizer.json');
  t.same(fs.readdirSync(result.dir).sort(), [...expected].sort(), 'configs, tokenizer, index and shards');
  t.notOk(server.requests.slice(before).some((r) => r.path.endsWith('README.md')));
  const [local, hub] = [path.join(tmp, 'sharded-local.gguf'), path.join(tmp, 'sharded-hub.gguf')];
  await convertCheckpoint(shardedDir, local, { type: 'f32', name: 'sharded-tiny' });
  await convertCheckpoint('test-org/sharded-tiny', hub, { type: 'f32', hub: opts(cacheDir) });
  t.ok(fs.readFileSync(hub).equals(fs.readFileSync(local)), 'same GGUF bytes');

  const error = await hubFailure(t, downloadCheckpoint('test-org/broken-index', opts(cacheDir)), 'file-not-found');
  t.match(
    error.message,
    new RegExp(`${brokenShard} is named by model\\.safetensors\\.index\\.json but not in the repository`),
  );
});

t.test("audiocraft's layout (no config.json): only state_dict.bin and compression_state_dict.bin", async (t) => {
  const result = await downloadCheckpoint('test-org/audiocraft-tiny', opts(freshCache()));
  t.same(fs.readdirSync(result.dir).sort(), ['compression_state_dict.bin', 'state_dict.bin']);
});

t.test('an AbortSignal stops a transfer: ERR_MUSICGEN_ABORTED, the partial blob kept, no link', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  const controller = new AbortController();
  const error = await downloadCheckpoint(
    repo,
    opts(cacheDir, {
      signal: controller.signal,
      onProgress: ({ file, bytes }) => {
        if (file === 'model.safetensors' && bytes > 0) controller.abort();
      },
    }),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, MusicGenError);
  t.equal((error as MusicGenError).code, 'ERR_MUSICGEN_ABORTED', String(error));
  const root = repoRoot(cacheDir, repo);
  t.notOk(fs.existsSync(path.join(root, 'snapshots', server.commit(repo), 'model.safetensors')));
  t.ok(
    fs.readdirSync(path.join(root, 'blobs')).some((f) => f.endsWith('.incomplete')),
    'kept for resuming',
  );
  checkNoBrokenLinks(t, root);
});

t.test('not enough free space is refused before the transfer starts', async (t) => {
  const cacheDir = freshCache();
  const realFs = require('node:fs') as typeof fs;
  const statfsSync = realFs.statfsSync;
  realFs.statfsSync = ((p: fs.PathLike) => ({ ...statfsSync(p), bavail: 1, bsize: 4096 })) as typeof fs.statfsSync;
  const before = server.requests.length;
  try {
    const error = await hubFailure(t, downloadCheckpoint('test-org/musicgen-tiny', opts(cacheDir)), 'disk');
    t.match(error.message, /not enough free space in .*blobs: \d+ bytes needed, 4096 available/);
  } finally {
    realFs.statfsSync = statfsSync;
  }
  t.same(
    server.requests.slice(before).filter((r) => r.method === 'GET' && /\/(resolve|lfs)\//.test(r.path)),
    [],
    'no file transfer started',
  );
  checkNoBrokenLinks(t, repoRoot(cacheDir, 'test-org/musicgen-tiny'));
});

t.test('two downloads of the same repo at once: one writer per blob, both get the verified snapshot', async (t) => {
  const cacheDir = freshCache();
  const repo = 'test-org/musicgen-tiny';
  const before = server.requests.length;
  const [a, b] = await Promise.all([
    downloadCheckpoint(repo, opts(cacheDir)),
    downloadCheckpoint(repo, opts(cacheDir)),
  ]);
  t.equal(a.dir, b.dir);
  t.equal(sha256(path.join(a.dir, 'model.safetensors')), sha256(path.join(TINY, 'model.safetensors')));
  const full = server.requests
    .slice(before)
    .filter((r) => r.method === 'GET' && r.path.startsWith('/lfs/') && r.path.endsWith('/model.safetensors'));
  t.equal(full.length, 1, 'the weights were transferred once; the other call waited and found the blob');
  const locks = path.join(cacheDir, '.locks', repoFolderName(repo));
  t.same(fs.existsSync(locks) ? fs.readdirSync(locks) : [], [], 'no lock left');
});
