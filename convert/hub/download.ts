// One repo file into the cache, the way huggingface_hub's file_download.py does it: HEAD the resolve URL for the
// etag (X-Linked-Etag for LFS files, else ETag) and size, download into blobs/<etag>.incomplete — continuing from
// its current size with an HTTP Range request after a dropped connection, within this call (retries) or in a later
// one —, check the size and, for LFS files, the sha256 the etag names, then rename to blobs/<etag> and link
// snapshots/<commit>/<file> to it. A snapshot entry therefore only ever points at a complete, verified blob.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import * as path from 'node:path';
import { HubError, MusicGenError, type HubErrorReason } from '../../lib/errors';
import type { RepoCache } from './cache';
import { abortedError, request, TransportError } from './http';

export interface HubSession {
  repo: string;
  endpoint: string;
  cache: RepoCache;
  headers: Record<string, string>;
  signal: AbortSignal | undefined;
  idleTimeoutMs: number;
  /** Resumptions (Range requests) after a dropped connection before giving up, per file. */
  retries: number;
  /** Called with the number of bytes just written. */
  onBytes: (bytes: number) => void;
}

export interface RemoteFile {
  etag: string;
  size: number;
  /** An LFS file: the etag is the sha256 of its contents (X-Linked-Etag), checked after the download. */
  lfs: boolean;
}

export interface FetchedFile {
  file: string;
  size: number;
  /** Bytes received over the network for this file in this call (0 when the blob was already cached). */
  received: number;
  /** Bytes the download started from (a .incomplete file left by an earlier, interrupted call). */
  resumedFrom: number;
  /** Range requests made (resumptions) for this file in this call. */
  rangeRequests: number;
}

const encodePath = (file: string) => file.split('/').map(encodeURIComponent).join('/');

export function resolveUrl(session: HubSession, commit: string, file: string): string {
  return `${session.endpoint}/${session.repo}/resolve/${encodeURIComponent(commit)}/${encodePath(file)}`;
}

/**
 * HTTP status -> HubError for the hub's answers (X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound,
 * GatedRepo). A 404 without a code (a plain mirror) means the repo for an API call, the file for a file request.
 */
export function statusError(
  session: HubSession,
  response: IncomingMessage,
  what: string,
  plain404: 'repo-not-found' | 'file-not-found' = 'repo-not-found',
): HubError {
  const status = response.statusCode ?? 0;
  const code = String(response.headers['x-error-code'] ?? '');
  const hint = (reason: HubErrorReason, message: string) =>
    new HubError(reason, session.repo, `${message} (HTTP ${status} from ${session.endpoint})`);
  const tokenSent = 'authorization' in session.headers;
  if (code === 'RepoNotFound' || (status === 404 && !code && plain404 === 'repo-not-found'))
    return hint(
      'repo-not-found',
      tokenSent
        ? 'repository not found'
        : 'repository not found (or private: set HF_TOKEN to a token that can read it)',
    );
  if (code === 'RevisionNotFound') return hint('revision-not-found', `${what}: revision not found`);
  if (code === 'EntryNotFound' || status === 404) return hint('file-not-found', `${what}: not found in the repository`);
  if (status === 401 || status === 403 || code === 'GatedRepo') {
    return hint(
      'unauthorized',
      tokenSent
        ? `${what}: access refused with the token given (HF_TOKEN / token option): it lacks access to this repository (gated: accept its terms on the hub)`
        : `${what}: the repository needs a token: set HF_TOKEN (or the token option) to a token with access`,
    );
  }
  return hint(status >= 500 ? 'network' : 'protocol', `${what}: unexpected answer`);
}

export function transportError(session: HubSession, error: unknown, what: string): MusicGenError {
  if (error instanceof MusicGenError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HubError('network', session.repo, `${what}: cannot reach ${session.endpoint} (${message})`, {
    cause: error,
  });
}

const header = (response: IncomingMessage, name: string) => {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** `W/"abc"` / `"abc"` -> `abc` (huggingface_hub's _normalize_etag). */
const normalizeEtag = (etag: string) => etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

/** HEAD on the resolve URL: etag, size and whether the file is in LFS (from the first answer, redirect or not). */
export async function headFile(session: HubSession, commit: string, file: string): Promise<RemoteFile> {
  let response: IncomingMessage;
  try {
    ({ response } = await request('HEAD', resolveUrl(session, commit, file), {
      headers: { ...session.headers, 'accept-encoding': 'identity' },
      signal: session.signal,
      idleTimeoutMs: session.idleTimeoutMs,
    }));
  } catch (error) {
    throw transportError(session, error, file);
  }
  response.resume();
  const status = response.statusCode ?? 0;
  if (status >= 400 || status < 200) throw statusError(session, response, file, 'file-not-found');
  const linked = header(response, 'x-linked-etag');
  const etag = normalizeEtag(linked ?? header(response, 'etag') ?? '');
  const size = Number(header(response, 'x-linked-size') ?? header(response, 'content-length'));
  if (!/^[0-9a-zA-Z_.-]+$/.test(etag)) {
    throw new HubError('protocol', session.repo, `${file}: the server sent no usable ETag / X-Linked-Etag`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new HubError('protocol', session.repo, `${file}: the server sent no usable X-Linked-Size / Content-Length`);
  }
  return { etag, size, lfs: linked !== undefined };
}

const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EFBIG']);

function diskError(session: HubSession, error: unknown, target: string, written: number, size: number): MusicGenError {
  const code = (error as NodeJS.ErrnoException).code;
  if (!code || !DISK_ERRORS.has(code)) return transportError(session, error, target);
  return new HubError(
    'disk',
    session.repo,
    `${code} writing ${target} (${written} of ${size} bytes written): ${(error as Error).message}; ` +
      'the partial file is kept, free space and run again to resume',
    { cause: error },
  );
}

/** Refuses a download that cannot fit, before it starts (statfs; skipped where the platform lacks it). */
function checkFreeSpace(session: HubSession, dir: string, needed: number): void {
  let free: number;
  try {
    const stats = fs.statfsSync(dir);
    free = stats.bavail * stats.bsize;
  } catch {
    return;
  }
  if (free < needed) {
    throw new HubError(
      'disk',
      session.repo,
      `not enough free space in ${dir}: ${needed} bytes needed, ${free} available`,
    );
  }
}

async function hashPrefix(file: string, length: number, hash: Hash): Promise<void> {
  if (length === 0) return;
  for await (const chunk of fs.createReadStream(file, { start: 0, end: length - 1 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
  }
}

/** Downloads `file` into blobs/<etag> (resuming a .incomplete file) unless the blob is already there. */
export async function fetchBlob(
  session: HubSession,
  commit: string,
  file: string,
  remote: RemoteFile,
): Promise<FetchedFile> {
  const blob = session.cache.blobPath(remote.etag);
  const result: FetchedFile = { file, size: remote.size, received: 0, resumedFrom: 0, rangeRequests: 0 };
  if (fs.existsSync(blob) && fs.statSync(blob).size === remote.size) return result;
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  const incomplete = `${blob}.incomplete`;
  const sizeOf = (p: string) => (fs.existsSync(p) ? fs.statSync(p).size : 0);
  let have = sizeOf(incomplete);
  if (have > remote.size) {
    fs.truncateSync(incomplete, 0);
    have = 0;
  }
  result.resumedFrom = have;
  checkFreeSpace(session, path.dirname(blob), remote.size - have);
  // sha256 over the whole file: what an earlier call left first, then the bytes as they arrive.
  let hash = remote.lfs ? createHash('sha256') : undefined;
  if (hash) await hashPrefix(incomplete, have, hash);

  for (let attempt = 0; have < remote.size; attempt++) {
    const headers: Record<string, string> = { ...session.headers, 'accept-encoding': 'identity' };
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      result.rangeRequests++;
    }
    let dropped: unknown;
    try {
      const { response } = await request('GET', resolveUrl(session, commit, file), {
        headers,
        signal: session.signal,
        idleTimeoutMs: session.idleTimeoutMs,
      });
      const status = response.statusCode ?? 0;
      if (status !== 200 && status !== 206) {
        response.resume();
        throw statusError(session, response, file, 'file-not-found');
      }
      if (status === 200 && have > 0) {
        // The server ignored the Range header: start over rather than append the whole file again.
        fs.truncateSync(incomplete, 0);
        have = 0;
        if (hash) hash = createHash('sha256');
      }
      if (status === 206) {
        const start = /^bytes (\d+)-/.exec(header(response, 'content-range') ?? '')?.[1];
        if (Number(start) !== have) {
          response.resume();
          throw new HubError(
            'protocol',
            session.repo,
            `${file}: asked for bytes from ${have}, got Content-Range '${header(response, 'content-range')}'`,
          );
        }
      }
      const progress = { have };
      try {
        await appendBody(session, response, incomplete, progress, remote.size, hash, result);
      } finally {
        have = progress.have; // what reached the file (and the hash) before any drop
      }
    } catch (error) {
      if (error instanceof MusicGenError) throw error;
      dropped = error;
    }
    if (dropped !== undefined || have < remote.size) {
      if (attempt >= session.retries) {
        const why = dropped instanceof Error ? dropped.message : 'the connection closed early';
        throw new HubError(
          'network',
          session.repo,
          `${file}: transfer interrupted after ${have} of ${remote.size} bytes (${why}); ` +
            `the partial file is kept (${incomplete}): run again to resume`,
          { cause: dropped },
        );
      }
      // A short pause before resuming (0.25 s, doubling up to 4 s), abortable.
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 4000)));
      if (session.signal?.aborted) throw abortedError();
    }
  }
  if (!fs.existsSync(incomplete)) fs.writeFileSync(incomplete, ''); // an empty file: no request was needed
  if (have !== remote.size) {
    fs.rmSync(incomplete, { force: true });
    throw new HubError(
      'protocol',
      session.repo,
      `${file}: received ${have} bytes, the server announced ${remote.size}`,
    );
  }
  if (hash) {
    const actual = hash.digest('hex');
    if (actual !== remote.etag) {
      fs.rmSync(incomplete, { force: true });
      throw new HubError(
        'checksum',
        session.repo,
        `${file}: sha256 ${actual} does not match the hub's X-Linked-Etag ${remote.etag}; the download was discarded`,
      );
    }
  }
  fs.renameSync(incomplete, blob);
  return result;
}

/**
 * Streams the body onto the end of `target`, advancing `progress.have` per chunk written (so after a drop it says
 * where to resume). A dropped connection rejects with a TransportError.
 */
async function appendBody(
  session: HubSession,
  response: IncomingMessage,
  target: string,
  progress: { have: number },
  size: number,
  hash: Hash | undefined,
  result: FetchedFile,
): Promise<void> {
  let have = progress.have;
  let fd: number;
  try {
    fd = fs.openSync(target, have > 0 ? 'a' : 'w');
  } catch (error) {
    response.destroy();
    throw diskError(session, error, target, have, size);
  }
  try {
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        if (have + chunk.length > size) {
          throw new HubError(
            'protocol',
            session.repo,
            `${target}: the server sent more than the ${size} bytes it announced`,
          );
        }
        try {
          fs.writeSync(fd, chunk);
        } catch (error) {
          throw diskError(session, error, target, have, size);
        }
        hash?.update(chunk);
        have += chunk.length;
        progress.have = have;
        result.received += chunk.length;
        session.onBytes(chunk.length);
      }
    } catch (error) {
      response.destroy();
      if (error instanceof MusicGenError) {
        if (error instanceof HubError && error.reason === 'protocol') fs.rmSync(target, { force: true });
        throw error;
      }
      if (session.signal?.aborted) throw new MusicGenError('ERR_MUSICGEN_ABORTED', 'the download was aborted');
      throw error instanceof TransportError ? error : new TransportError(String((error as Error).message), target);
    }
  } finally {
    fs.closeSync(fd);
  }
}
