// One writer per blob: two downloads of the same file (two processes, or two calls in one) must not append to the
// same .incomplete file. huggingface_hub uses flock on <cache>/.locks/<repo folder>/<etag>.lock, which Node cannot
// take, and Python leaves those files in place, so ours is a separate create-exclusive file beside them
// (<etag>.musicgen-lock, holding "pid@host"); a lock whose process is gone on this host is taken over.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { abortedError } from './http';

const POLL_MS = 100;

function holderIsGone(lock: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(lock, 'utf8');
  } catch {
    return true; // released meanwhile
  }
  const [pid, host] = text.split('@');
  if (host !== os.hostname() || !pid) return false; // another machine sharing the cache: wait for it
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Runs `fn` holding the lock at `lock` (waiting for another holder, aborting with `signal`). */
export async function withLock<T>(lock: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    if (signal?.aborted) throw abortedError();
    try {
      fs.writeFileSync(lock, `${process.pid}@${os.hostname()}`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // Held by this process (another call) or a live one: wait. A dead holder's lock is removed and retried.
    let holder: string;
    try {
      holder = fs.readFileSync(lock, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    if (!holder.startsWith(`${process.pid}@`) && holderIsGone(lock)) fs.rmSync(lock, { force: true });
    else await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}
