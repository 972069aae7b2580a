// The Hugging Face cache layout, exactly as huggingface_hub writes it, so Python tools and we share downloads:
//   <HF_HUB_CACHE>/models--<owner>--<name>/blobs/<etag>                 file contents, named by the hub's etag
//                                        /snapshots/<commit>/<file>       relative symlink -> ../../blobs/<etag>
//                                        /refs/<revision>                 the commit a branch / tag pointed at
// Cache root: HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** huggingface_hub's default cache folder, from the same environment variables in the same order. */
export function defaultHubCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE; // older name, still read by huggingface_hub
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

/** `facebook/musicgen-small` -> `models--facebook--musicgen-small` (huggingface_hub's repo_folder_name). */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

/** A revision that is already a full commit hash (then no ref is written and the snapshot is named by it). */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

export class RepoCache {
  readonly root: string;
  constructor(
    cacheDir: string,
    readonly repo: string,
  ) {
    this.root = path.join(cacheDir, repoFolderName(repo));
  }

  blobPath(etag: string): string {
    return path.join(this.root, 'blobs', etag);
  }

  /** Our lock for one blob's download, beside huggingface_hub's own (.locks/<repo folder>/), see lock.ts. */
  lockPath(etag: string): string {
    return path.join(path.dirname(this.root), '.locks', path.basename(this.root), `${etag}.musicgen-lock`);
  }

  snapshotDir(commit: string): string {
    return path.join(this.root, 'snapshots', commit);
  }

  /** The commit `revision` resolves to in the cache: itself when a commit hash, else refs/<revision>. */
  cachedCommit(revision: string): string | undefined {
    if (isCommitHash(revision)) return revision;
    // Revisions like `refs/pr/1` are stored as nested files, as huggingface_hub does.
    const ref = path.join(this.root, 'refs', ...revision.split('/'));
    try {
      const commit = fs.readFileSync(ref, 'utf8').trim();
      return isCommitHash(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes refs/<revision> = commit (temp file + rename, so a reader never sees half a hash). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = path.join(this.root, 'refs', ...revision.split('/'));
    fs.mkdirSync(path.dirname(ref), { recursive: true });
    const temp = `${ref}.tmp-${process.pid}`;
    fs.writeFileSync(temp, commit);
    fs.renameSync(temp, ref);
  }

  /** The snapshot entry for `file` if it exists and resolves to a blob (a dangling link counts as absent). */
  cachedFile(commit: string, file: string): string | undefined {
    const pointer = path.join(this.snapshotDir(commit), file);
    try {
      return fs.statSync(pointer).isFile() ? pointer : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * snapshots/<commit>/<file> -> ../../blobs/<etag> (relative, as huggingface_hub makes it), created under a temp
   * name and renamed into place so the entry is either absent or complete. Where symlinks are refused (Windows
   * without developer mode) the blob is copied instead, as huggingface_hub does.
   */
  linkSnapshotFile(commit: string, file: string, etag: string): string {
    const pointer = path.join(this.snapshotDir(commit), file);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    const blob = this.blobPath(etag);
    const temp = `${pointer}.tmp-${process.pid}`;
    fs.rmSync(temp, { force: true });
    try {
      fs.symlinkSync(path.relative(path.dirname(pointer), blob), temp);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      fs.copyFileSync(blob, temp);
    }
    fs.renameSync(temp, pointer);
    return pointer;
  }
}

/** `<cache>/models--<owner>--<name>/snapshots/<commit>` -> `{ repo: 'owner/name', commit }`, else undefined. */
export function parseSnapshotDir(dir: string): { repo: string; commit: string } | undefined {
  const parts = path.resolve(dir).split(path.sep);
  const [folder, snapshots, commit] = parts.slice(-3);
  const match = folder && /^models--([^/]+?)--(.+)$/.exec(folder);
  if (!match || snapshots !== 'snapshots' || !commit) return undefined;
  return { repo: `${match[1]}/${match[2]}`, commit };
}
