// A one-line progress bar on stderr for the CLIs: work done, and when the work is audio, the seconds of audio
// made and the speed against real time. Callers only create it when stderr is a TTY, so pipes, CI logs and
// --json output stay quiet.
export interface ProgressDetail {
  /** Unit of done/total, e.g. 'steps' or 'tensors'; omitted when done/total are seconds of audio. */
  unit?: string;
  /** Seconds of audio made so far: adds the speed against real time. */
  audioSeconds?: number;
  /** Free text at the end, e.g. the tensor being converted. */
  note?: string;
}

export class ProgressBar {
  readonly #label: string;
  readonly #started = process.hrtime.bigint();

  constructor(label: string) {
    this.#label = label;
  }

  /** Seconds since the bar was made. */
  elapsed(): number {
    return Number(process.hrtime.bigint() - this.#started) / 1e9;
  }

  // e.g. "generating [######      ] 26/53 steps 4.2/s | 0.5 s audio, 0.08x real time" (fits 80 columns)
  update(done: number, total: number, detail: ProgressDetail): void {
    const width = 12;
    const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
    const elapsed = Math.max(this.elapsed(), 1e-3);
    const counts = detail.unit
      ? `${done}/${total} ${detail.unit} ${(done / elapsed).toFixed(1)}/s`
      : `${done.toFixed(1)}/${total} s`;
    const parts = [`${this.#label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${counts}`];
    if (detail.audioSeconds !== undefined) {
      const audio = detail.unit ? `${detail.audioSeconds.toFixed(1)} s audio, ` : '';
      parts.push(`${audio}${(detail.audioSeconds / elapsed).toFixed(2)}x real time`);
    } else {
      parts.push(`${elapsed.toFixed(1)} s`);
    }
    if (detail.note) parts.push(detail.note);
    const line = parts.join(' | ');
    const columns = process.stderr.columns || 80;
    process.stderr.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
  }

  done(message: string): void {
    process.stderr.write(`\n${message}\n`);
  }
}

/** Hub download progress for the CLIs (MiB received of the total, the file being fetched), at most ~10 draws/s. */
export function downloadProgress(): { onProgress: (p: { file: string; bytes: number; totalBytes: number }) => void } {
  const bar = new ProgressBar('downloading');
  let last = 0;
  return {
    onProgress: ({ file, bytes, totalBytes }) => {
      const now = Date.now();
      if (now - last < 100 && bytes < totalBytes) return;
      last = now;
      const mib = (n: number) => Math.round(n / 2 ** 20);
      bar.update(mib(bytes), mib(Math.max(totalBytes, bytes)), { unit: 'MiB', note: file });
    },
  };
}
