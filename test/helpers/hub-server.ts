// A stand-in for the Hugging Face Hub on 127.0.0.1, serving local folders as repos the way the hub answers:
// /api/models/{repo}/revision/{rev} (sha + siblings), /api/models/{repo}/tree/{rev} (oid, size, lfs {oid, size}),
// HEAD/GET /{repo}/resolve/{rev}/{file} with X-Repo-Commit, ETag, and for LFS files a 302 to another path of this
// server carrying X-Linked-Etag (the sha256) / X-Linked-Size; Range requests (206); 401/403 for a gated repo
// without / with a wrong token; 404 with X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound). Switches let
// a test drop a connection midway through a file or corrupt a file's bytes, and every request is logged.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface RepoOptions {
  /** Folder whose files (recursively) are the repo's files. */
  dir: string;
  /** Branch / tag names (default ['main']); all point at the one commit. */
  revisions?: string[];
  /** Requests must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

interface RepoFile {
  name: string;
  /** Where the bytes are read from (streamed: a multi-GB checkpoint is never held in memory). */
  source: string;
  size: number;
  gitOid: string;
  sha256: string;
  lfs: boolean;
}

interface Repo {
  commit: string;
  revisions: Set<string>;
  token: string | undefined;
  files: Map<string, RepoFile>;
}

// Like the hub's default .gitattributes: these extensions go to LFS whatever their size.
const LFS_EXTENSIONS = new Set(['.safetensors', '.bin', '.model', '.pt', '.pth', '.ckpt', '.gguf']);

function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return listFiles(path.join(dir, entry.name), rel);
    return entry.isFile() || entry.isSymbolicLink() ? [rel] : [];
  });
}

function loadRepo(name: string, options: RepoOptions): Repo {
  const files = new Map<string, RepoFile>();
  const commitHash = createHash('sha1').update(name);
  for (const file of listFiles(options.dir).sort()) {
    const source = path.join(options.dir, file);
    const size = fs.statSync(source).size;
    const git = createHash('sha1').update(`blob ${size}\0`);
    const sha = createHash('sha256');
    const fd = fs.openSync(source, 'r');
    const chunk = Buffer.alloc(8 * 2 ** 20);
    for (let n; (n = fs.readSync(fd, chunk)) > 0;) {
      git.update(chunk.subarray(0, n));
      sha.update(chunk.subarray(0, n));
    }
    fs.closeSync(fd);
    const [gitOid, sha256] = [git.digest('hex'), sha.digest('hex')];
    files.set(file, {
      name: file,
      source,
      size,
      gitOid,
      sha256,
      lfs: LFS_EXTENSIONS.has(path.extname(file)) || size > 10 * 2 ** 20,
    });
    commitHash.update(`${file}\0${gitOid}\0`);
  }
  return {
    commit: commitHash.digest('hex'),
    revisions: new Set(options.revisions ?? ['main']),
    token: options.token,
    files,
  };
}

export class HubServer {
  readonly requests: LoggedRequest[] = [];
  /** Drop the connection after this many body bytes of the next GET of the file (then the switch clears). */
  readonly dropAfter = new Map<string, number>();
  /** Serve these files with their first byte flipped (headers unchanged: the sha256 no longer matches). */
  readonly corrupt = new Set<string>();
  readonly #repos = new Map<string, Repo>();
  readonly #server: http.Server;
  url = '';

  constructor(repos: Record<string, RepoOptions>) {
    for (const [name, options] of Object.entries(repos)) this.#repos.set(name, loadRepo(name, options));
    this.#server = http.createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  commit(repo: string): string {
    return this.#repos.get(repo)!.commit;
  }

  /** Logged GETs of a repo file (resolve or LFS path), by file name. */
  fileGets(): string[] {
    return this.requests
      .filter((r) => r.method === 'GET' && /\/(resolve|lfs)\//.test(r.path))
      .map((r) => fileOf(r.path));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const pathname = decodeURIComponent(url.pathname);
    this.requests.push({
      method: req.method ?? '',
      path: pathname,
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    const fail = (status: number, code?: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(code && { 'x-error-code': code }) });
      res.end(JSON.stringify({ error: code ?? `HTTP ${status}` }));
    };
    let match = /^\/lfs\/([^/]+)\/([0-9a-f]{64})\/(.+)$/.exec(pathname);
    if (match) {
      const file = this.#repos.get(match[1]!.replace('~', '/'))?.files.get(match[3]!);
      if (!file || file.sha256 !== match[2]) return fail(404);
      return this.#sendFile(req, res, file, {});
    }
    match = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/(.+)$/.exec(pathname);
    const resolve = match ? undefined : /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(pathname);
    const [repoName, revision] = match ? [match[1]!, match[3]!] : resolve ? [resolve[1]!, resolve[2]!] : [];
    if (!repoName || !revision) return fail(404);
    const repo = this.#repos.get(repoName);
    if (!repo) return fail(404, 'RepoNotFound');
    if (repo.token !== undefined) {
      const auth = req.headers.authorization;
      if (!auth) return fail(401, 'GatedRepo');
      if (auth !== `Bearer ${repo.token}`) return fail(403, 'GatedRepo');
    }
    if (!repo.revisions.has(revision) && revision !== repo.commit) return fail(404, 'RevisionNotFound');
    if (match?.[2] === 'revision') {
      return this.#json(res, {
        id: repoName,
        sha: repo.commit,
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    if (match?.[2] === 'tree') {
      return this.#json(
        res,
        [...repo.files.values()].map((f) => ({
          type: 'file',
          oid: f.gitOid,
          size: f.size,
          path: f.name,
          ...(f.lfs && { lfs: { oid: f.sha256, size: f.size, pointerSize: 134 } }),
        })),
      );
    }
    const file = repo.files.get(resolve![3]!);
    if (!file) return fail(404, 'EntryNotFound');
    const common = { 'x-repo-commit': repo.commit };
    if (file.lfs) {
      res.writeHead(302, {
        ...common,
        etag: `"${file.gitOid}"`,
        'x-linked-etag': `"${file.sha256}"`,
        'x-linked-size': String(file.size),
        location: `${this.url}/lfs/${repoName.replace('/', '~')}/${file.sha256}/${encodeURIComponent(file.name)}`,
        'content-length': '0',
      });
      return void res.end();
    }
    this.#sendFile(req, res, file, { ...common, etag: `"${file.gitOid}"` });
  }

  #json(res: http.ServerResponse, value: unknown): void {
    const body = JSON.stringify(value);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  #sendFile(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    file: RepoFile,
    headers: Record<string, string>,
  ): void {
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= file.size) {
        res.writeHead(416, { 'content-range': `bytes */${file.size}` });
        return void res.end();
      }
    }
    res.writeHead(range ? 206 : 200, {
      ...headers,
      'accept-ranges': 'bytes',
      'content-length': String(file.size - start),
      ...(range && { 'content-range': `bytes ${start}-${file.size - 1}/${file.size}` }),
    });
    if (req.method === 'HEAD') return void res.end();
    const drop = this.dropAfter.get(file.name);
    if (drop !== undefined && drop < file.size - start) this.dropAfter.delete(file.name);
    const limit = drop !== undefined && drop < file.size - start ? drop : Infinity;
    const corrupt = this.corrupt.has(file.name);
    const stream = fs.createReadStream(file.source, { start, highWaterMark: 256 * 1024 });
    let sent = 0;
    stream.on('data', (chunk) => {
      let data = chunk as Buffer;
      if (corrupt && sent === 0 && start === 0) {
        data = Buffer.from(data);
        data[0] = data[0]! ^ 0xff;
      }
      if (sent + data.length >= limit) {
        // Midway: what fits is sent, then the socket is destroyed (the client sees a body shorter than announced).
        stream.destroy();
        res.write(data.subarray(0, limit - sent), () => setTimeout(() => res.socket?.destroy(), 20));
        sent = limit;
        return;
      }
      sent += data.length;
      if (!res.write(data)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => res.end());
    res.on('close', () => stream.destroy());
  }
}

function fileOf(requestPath: string): string {
  const resolve = /\/resolve\/[^/]+\/(.+)$/.exec(requestPath);
  if (resolve) return resolve[1]!;
  return /^\/lfs\/[^/]+\/[0-9a-f]{64}\/(.+)$/.exec(requestPath)![1]!;
}
