// A one-line progress bar on stderr for the CLIs; callers only create it when stderr is a TTY, so
// pipes and CI logs stay quiet.
export class ProgressBar {
  readonly #label: string;
  readonly #started = Date.now();

  constructor(label: string) {
    this.#label = label;
  }

  update(done: number, total: number, detail = ''): void {
    const width = 30;
    const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
    const seconds = ((Date.now() - this.#started) / 1000).toFixed(1);
    const line = `${this.#label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${seconds}s ${detail}`;
    const columns = process.stderr.columns || 80;
    process.stderr.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
  }

  done(message: string): void {
    process.stderr.write(`\n${message}\n`);
  }
}
