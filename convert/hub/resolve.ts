// "Folder or repo id": the one entry point every command that takes a checkpoint uses. A local path stays as it is;
// an `owner/name` repo id is fetched from the Hugging Face Hub (or HF_ENDPOINT's mirror) into the shared HF cache —
// only the files conversion needs, resumable, verified — and its snapshot folder is returned. HF_HUB_OFFLINE=1
// serves it from the cache. Why not @huggingface/hub: docs/converter.md, "Hub downloads".
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { ConvertError, HubError, MusicGenError } from '../../lib/errors';
import { defaultHubCache, isCommitHash, RepoCache } from './cache';
import { fetchBlob, headFile, statusError, transportError, type FetchedFile, type HubSession } from './download';
import { readText, request } from './http';
import { withLock } from './lock';
import {
  audiocraftFiles,
  hfFiles,
  loraFiles,
  missingFromSnapshot,
  repoLayout,
  shardsOf,
  WEIGHT_INDEX,
} from './select-files';

export interface HubProgress {
  /** The file being fetched. */
  file: string;
  /** Bytes received so far in this call, all files together. */
  bytes: number;
  /** Bytes of the files still to fetch when the call started (from the hub's tree listing; 0 when unknown). */
  totalBytes: number;
}

export interface HubOptions {
  /** Branch, tag or commit hash (default 'main'). */
  revision?: string;
  /** Access token for gated / private repos; default HF_TOKEN, else the file `huggingface-cli login` wrote. false = none. */
  token?: string | false;
  /** Hub or mirror URL; default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Cache folder; default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's). */
  cacheDir?: string;
  /** Serve from the cache only, no network; default: HF_HUB_OFFLINE set to 1 / true / yes / on. */
  offline?: boolean;
  /** Called as bytes arrive (throttle drawing yourself). */
  onProgress?: (progress: HubProgress) => void;
  signal?: AbortSignal;
  /** Resumptions (HTTP Range) after a dropped connection, per file, before the call fails (default 5). */
  retries?: number;
  /** Milliseconds without data before a request counts as dropped (default 60000). */
  idleTimeoutMs?: number;
}

export interface CheckpointDownload {
  /** The snapshot folder: <cache>/models--<owner>--<name>/snapshots/<commit>. */
  dir: string;
  repo: string;
  commit: string;
  /** The files the snapshot holds for conversion, with what this call received for each. */
  files: FetchedFile[];
  /** True when served from the cache without asking the network (offline, or the hub unreachable). */
  fromCache: boolean;
}

/** `owner/name` as the hub spells repo ids (no `--` or `..`, at most 96 characters per part). */
export function isRepoId(spec: string): boolean {
  return (
    /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/.test(spec) && !/--|\.\./.test(spec) && !spec.endsWith('.')
  );
}

/**
 * A local folder stays as it is; an `owner/name` repo id (not an existing path) is fetched into the HF cache (only
 * what conversion needs) and its snapshot folder is returned.
 */
export async function resolveCheckpointDir(spec: string, options?: HubOptions): Promise<string> {
  // Not a repo id either: returned as is, so the converter names the missing file as it always has.
  if (fs.existsSync(spec) || !isRepoId(spec)) return spec;
  try {
    return (await downloadCheckpoint(spec, options)).dir;
  } catch (error) {
    if (!(error instanceof HubError) || error.reason !== 'repo-not-found') throw error;
    const message = `${error.message.slice(spec.length + 2)}; there is no local folder '${spec}' either`;
    throw new HubError('repo-not-found', spec, message, { cause: error });
  }
}

const truthy = (value: string | undefined) => /^(1|true|yes|on)$/i.test(value ?? '');

/** HF_TOKEN, then the older HUGGING_FACE_HUB_TOKEN, then the token file (HF_TOKEN_PATH, else $HF_HOME/token). */
export function defaultToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv) return fromEnv.trim();
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  try {
    return fs.readFileSync(env.HF_TOKEN_PATH || path.join(home, 'token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function userAgent(): string {
  let version = 'unknown';
  try {
    version = (
      JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    // a bundled copy without package.json: the agent only helps the hub's statistics
  }
  return `musicgen-native/${version}; node/${process.versions.node}`;
}

/** The cached snapshot `revision` points at, when complete; else undefined with the reason. */
function fromCache(cache: RepoCache, revision: string): { commit: string; dir: string } | string {
  const commit = cache.cachedCommit(revision);
  if (!commit) return `revision '${revision}' is not in the cache (${cache.root})`;
  const dir = cache.snapshotDir(commit);
  const missing = missingFromSnapshot(dir);
  if (missing.length) return `the cached snapshot ${dir} lacks ${missing.join(', ')}`;
  return { commit, dir };
}

function cachedResult(repo: string, commit: string, dir: string): CheckpointDownload {
  const files = fs.readdirSync(dir).map((file) => ({
    file,
    size: fs.statSync(path.join(dir, file)).size,
    received: 0,
    resumedFrom: 0,
    rangeRequests: 0,
  }));
  return { dir, repo, commit, files, fromCache: true };
}

async function getJson(session: HubSession, url: string, what: string): Promise<unknown> {
  let response: IncomingMessage;
  let text: string;
  try {
    ({ response } = await request('GET', url, {
      headers: { ...session.headers, accept: 'application/json' },
      signal: session.signal,
      idleTimeoutMs: session.idleTimeoutMs,
    }));
    if (response.statusCode !== 200) {
      response.resume();
      throw statusError(session, response, what);
    }
    text = await readText(response);
  } catch (error) {
    throw transportError(session, error, what);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HubError('protocol', session.repo, `${what}: the answer is not JSON`);
  }
}

/** Fetches `repo` at `revision` into the cache (or finds it there) and says what was fetched. */
export async function downloadCheckpoint(repo: string, options: HubOptions = {}): Promise<CheckpointDownload> {
  if (!isRepoId(repo)) throw new ConvertError('not a Hugging Face repo id (owner/name)', repo);
  const revision = options.revision ?? 'main';
  if (revision === '' || revision.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', `revision '${revision}' is not a branch, tag or commit`);
  }
  const cache = new RepoCache(options.cacheDir ?? defaultHubCache(), repo);
  const offline = options.offline ?? truthy(process.env.HF_HUB_OFFLINE);
  if (offline) {
    const cached = fromCache(cache, revision);
    if (typeof cached === 'string') {
      throw new HubError('offline', repo, `offline mode (HF_HUB_OFFLINE): ${cached}; run once online to fetch it`);
    }
    return cachedResult(repo, cached.commit, cached.dir);
  }

  if (isCommitHash(revision)) {
    // A commit never changes: a complete snapshot of it needs no network at all.
    const cached = fromCache(cache, revision);
    if (typeof cached !== 'string') return cachedResult(repo, cached.commit, cached.dir);
  }

  const token = options.token === false ? undefined : (options.token ?? defaultToken());
  let totalBytes = 0;
  let bytes = 0;
  let current = '';
  const session: HubSession = {
    repo,
    endpoint: (options.endpoint ?? (process.env.HF_ENDPOINT || 'https://huggingface.co')).replace(/\/+$/, ''),
    cache,
    headers: { 'user-agent': userAgent(), ...(token && { authorization: `Bearer ${token}` }) },
    signal: options.signal,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    retries: options.retries ?? 5,
    onBytes: (n) => {
      bytes += n;
      options.onProgress?.({ file: current, bytes, totalBytes });
    },
  };

  // 1. The commit the revision points at now, and the repo's file list.
  let info: unknown;
  try {
    info = await getJson(
      session,
      `${session.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`,
      `revision '${revision}'`,
    );
  } catch (error) {
    // The hub unreachable (not an answer like 404): a complete cached snapshot is used, as huggingface_hub does.
    const cached = error instanceof HubError && error.reason === 'network' ? fromCache(cache, revision) : undefined;
    if (cached && typeof cached !== 'string') return cachedResult(repo, cached.commit, cached.dir);
    throw error;
  }
  const { sha, siblings } = (info ?? {}) as { sha?: unknown; siblings?: unknown };
  if (typeof sha !== 'string' || !isCommitHash(sha) || !Array.isArray(siblings)) {
    throw new HubError('protocol', repo, `revision '${revision}': the answer has no commit sha or siblings list`);
  }
  const available = new Set(
    siblings.map((s) => (s as { rfilename?: unknown }).rfilename).filter((f): f is string => typeof f === 'string'),
  );

  // 2. What conversion needs from it.
  const layout = repoLayout(available);
  if (!layout) {
    const listed = [...available].slice(0, 12).join(', ');
    throw new HubError(
      'not-musicgen',
      repo,
      `not a MusicGen checkpoint: neither config.json with model.safetensors / ${WEIGHT_INDEX} / pytorch_model.bin ` +
        `nor audiocraft's state_dict.bin nor a PEFT adapter (adapter_config.json + adapter_model.*) in the repository (it holds: ${listed || 'nothing'})`,
    );
  }
  const wanted =
    layout === 'hf' ? hfFiles(available) : layout === 'audiocraft' ? audiocraftFiles(available) : loraFiles(available);

  // Sizes for the progress total and LFS oids to cross-check the resolve headers (optional: mirrors may lack it).
  const tree = new Map<string, { size: number; lfsOid?: string }>();
  try {
    const listing = await getJson(session, `${session.endpoint}/api/models/${repo}/tree/${sha}`, 'tree');
    for (const entry of Array.isArray(listing) ? listing : []) {
      const e = entry as { path?: unknown; size?: unknown; lfs?: { oid?: unknown; size?: unknown } };
      if (typeof e.path !== 'string') continue;
      const lfsOid = typeof e.lfs?.oid === 'string' ? e.lfs.oid : undefined;
      const size = Number(e.lfs?.size ?? e.size);
      tree.set(e.path, { size: Number.isSafeInteger(size) ? size : 0, ...(lfsOid && { lfsOid }) });
    }
  } catch (error) {
    if (!(error instanceof HubError) || error.reason === 'unauthorized') throw error;
  }
  const remaining = (files: string[]) =>
    files.filter((f) => !cache.cachedFile(sha, f)).reduce((sum, f) => sum + (tree.get(f)?.size ?? 0), 0);
  totalBytes = remaining(wanted);

  // 3. Each file into blobs/ + snapshots/<sha>/ (config first: a non-MusicGen repo is refused before the weights).
  const fetched: FetchedFile[] = [];
  const fetchOne = async (file: string): Promise<string> => {
    const cached = cache.cachedFile(sha, file);
    if (cached) {
      fetched.push({ file, size: fs.statSync(cached).size, received: 0, resumedFrom: 0, rangeRequests: 0 });
      return cached;
    }
    if (!available.has(file)) {
      throw new HubError('file-not-found', repo, `${file} is named by ${WEIGHT_INDEX} but not in the repository`);
    }
    current = file;
    const remote = await headFile(session, sha, file);
    const lfsOid = tree.get(file)?.lfsOid;
    if (lfsOid && remote.lfs && lfsOid !== remote.etag) {
      throw new HubError(
        'protocol',
        repo,
        `${file}: X-Linked-Etag ${remote.etag} differs from the tree's LFS oid ${lfsOid}`,
      );
    }
    fetched.push(
      await withLock(cache.lockPath(remote.etag), options.signal, () => fetchBlob(session, sha, file, remote)),
    );
    return cache.linkSnapshotFile(sha, file, remote.etag);
  };
  for (const file of wanted) {
    const local = await fetchOne(file);
    if (file === 'config.json') checkModelType(repo, local);
    if (file === WEIGHT_INDEX) {
      const shards = shardsOf(fs.readFileSync(local, 'utf8'));
      if (typeof shards === 'string') throw new ConvertError(shards, local);
      totalBytes += remaining(shards);
      for (const shard of shards) await fetchOne(shard);
    }
  }
  cache.writeRef(revision, sha);
  return { dir: cache.snapshotDir(sha), repo, commit: sha, files: fetched, fromCache: false };
}

const MUSICGEN_TYPES = ['musicgen', 'musicgen_melody'];

/** A repo whose config.json is another model (bert, encodec, ...) is refused before its weights are fetched. */
function checkModelType(repo: string, file: string): void {
  let modelType: unknown;
  try {
    modelType = (JSON.parse(fs.readFileSync(file, 'utf8')) as { model_type?: unknown }).model_type;
  } catch (error) {
    throw new ConvertError(`is not valid JSON (${(error as Error).message})`, file);
  }
  if (typeof modelType !== 'string' || !MUSICGEN_TYPES.includes(modelType)) {
    throw new HubError(
      'not-musicgen',
      repo,
      `not a MusicGen checkpoint: config.json has model_type ${JSON.stringify(modelType)}, expected ${MUSICGEN_TYPES.join(' or ')}`,
    );
  }
}
