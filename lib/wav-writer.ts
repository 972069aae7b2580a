// Incremental WAV writing for streams: the header's sizes are patched after every chunk, so a run that is
// interrupted at any point leaves a valid, playable WAV of everything written so far.
import * as fs from 'node:fs';
import { invalid, oneOf } from './validate';

const HEADER_BYTES = 44;

export class WavFileWriter {
  readonly #fd: number;
  readonly #channels: number;
  readonly #float: boolean;
  #dataBytes = 0;
  #closed = false;

  /** Creates (or truncates) `file` for `channels` channels at `sampleRate`, 16-bit PCM or 32-bit float. */
  constructor(file: string, sampleRate: number, channels: number, bitDepth: '16' | '32f' = '16') {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw invalid('sampleRate', 'a positive integer', sampleRate);
    if (!Number.isInteger(channels) || channels < 1 || channels > 8)
      throw invalid('channels', 'an integer 1..8', channels);
    this.#float = oneOf('bitDepth', bitDepth, ['16', '32f'] as const) === '32f';
    this.#channels = channels;
    this.#fd = fs.openSync(file, 'w');
    const bytesPerSample = this.#float ? 4 : 2;
    const header = Buffer.alloc(HEADER_BYTES);
    header.write('RIFF', 0, 'latin1');
    header.writeUInt32LE(HEADER_BYTES - 8, 4);
    header.write('WAVEfmt ', 8, 'latin1');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(this.#float ? 3 : 1, 20); // WAVE_FORMAT_IEEE_FLOAT or PCM
    header.writeUInt16LE(channels, 22);
    header.writeUInt32LE(sampleRate, 24);
    header.writeUInt32LE(sampleRate * channels * bytesPerSample, 28);
    header.writeUInt16LE(channels * bytesPerSample, 32);
    header.writeUInt16LE(bytesPerSample * 8, 34);
    header.write('data', 36, 'latin1');
    header.writeUInt32LE(0, 40);
    fs.writeSync(this.#fd, header, 0, HEADER_BYTES, 0);
  }

  /** Appends one chunk (one Float32Array per channel, equal lengths) and updates the header. */
  write(channels: Float32Array[]): void {
    if (this.#closed) throw new Error('WavFileWriter: write after close');
    if (channels.length !== this.#channels) throw invalid('channels', `${this.#channels} channels`, channels.length);
    const frames = channels[0]!.length;
    const bytesPerSample = this.#float ? 4 : 2;
    const out = Buffer.alloc(frames * this.#channels * bytesPerSample);
    for (let i = 0; i < frames; i++) {
      for (let c = 0; c < this.#channels; c++) {
        const x = channels[c]![i]!;
        const offset = (i * this.#channels + c) * bytesPerSample;
        if (this.#float) out.writeFloatLE(x, offset);
        else out.writeInt16LE(Math.round(Math.max(-1, Math.min(1, Number.isNaN(x) ? 0 : x)) * 32767), offset);
      }
    }
    fs.writeSync(this.#fd, out, 0, out.length, HEADER_BYTES + this.#dataBytes);
    this.#dataBytes += out.length;
    const sizes = Buffer.alloc(4);
    sizes.writeUInt32LE(HEADER_BYTES - 8 + this.#dataBytes, 0);
    fs.writeSync(this.#fd, sizes, 0, 4, 4);
    sizes.writeUInt32LE(this.#dataBytes, 0);
    fs.writeSync(this.#fd, sizes, 0, 4, 40);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.#fd);
  }
}
